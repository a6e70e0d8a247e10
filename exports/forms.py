from django import forms

from exports.models import FORMATS
from exports.selectors import CONSENSUS_METHODS
from exports.services import AWAITING_RULES, GOLD_RULES, ExportError, export_split_parse
from exports.video_scores import VIDEO_SCORE_SOURCES


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
    video_scores = forms.ChoiceField(
        choices=[(source, source) for source in VIDEO_SCORE_SOURCES], initial="none", required=False,
        label="Single-video scores (rl-prompts)",
        help_text="judgments: Bradley-Terry over the pairs; checklist-model: a registered checklist-linear model",
    )
    video_score_model = forms.IntegerField(required=False, min_value=1, label="Checklist-linear model id")
    consensus = forms.ChoiceField(
        choices=[(method, method) for method in CONSENSUS_METHODS],
        initial="majority",
        required=False,
        label="Consensus",
        help_text="majority: each expert one vote; reliability-weighted: each expert's vote weighted by their "
        "Dawid-Skene reliability for the code (recorded in the manifest)",
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
        options = {
            key: data[key]
            for key in ("split", "seed", "min_agreement", "swap_augment", "gold", "awaiting_adjudication")
        }
        if data.get("video_scores") not in (None, "", "none"):
            options.update(video_scores=data["video_scores"], video_score_model=data.get("video_score_model"))
        if data.get("consensus") not in (None, "", "majority"):
            options["consensus"] = data["consensus"]
        return options
