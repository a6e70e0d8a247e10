from django import forms

from exports.models import FORMATS
from exports.services import AWAITING_RULES, GOLD_RULES, ExportError, export_split_parse


class ExportForm(forms.Form):
    campaign = forms.ModelChoiceField(queryset=None, empty_label=None)
    format = forms.ChoiceField(choices=[(name, name) for name in FORMATS])
    split = forms.CharField(initial="0.8/0.1/0.1", help_text="train/validation/test")
    seed = forms.IntegerField(initial=0, min_value=0)
    min_agreement = forms.FloatField(initial=0.0, min_value=0.0, max_value=1.0)
    swap_augment = forms.BooleanField(required=False, label="Position-swap augmentation")
    gold = forms.ChoiceField(choices=[(rule, rule) for rule in GOLD_RULES], initial="test", label="Gold pairs")
    awaiting_adjudication = forms.ChoiceField(
        choices=[(rule, rule) for rule in AWAITING_RULES], initial="exclude", label="Pairs awaiting adjudication"
    )

    def __init__(self, *args, campaigns, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = campaigns

    def clean_split(self) -> str:
        try:
            export_split_parse(self.cleaned_data["split"])
        except ExportError as error:
            raise forms.ValidationError(str(error)) from error
        return self.cleaned_data["split"]

    def options(self) -> dict:
        data = self.cleaned_data
        return {
            key: data[key]
            for key in ("split", "seed", "min_agreement", "swap_augment", "gold", "awaiting_adjudication")
        }
