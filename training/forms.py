from __future__ import annotations

from django import forms

from exports.models import ExportSnapshot
from rm_training.config import RECIPES
from training.selectors import REGISTRY_SORTS, base_model_choices, key_hyperparameters
from training.services import TrainingError, check_override_keys

FIELD_TYPES = {int: forms.IntegerField, float: forms.FloatField}


def _field_key(name: str) -> str:
    return "hp__" + name.replace(".", "__")


class EvaluateForm(forms.Form):
    """The export snapshot a registered model is evaluated on: one of `snapshots` (the finished snapshots the
    user may train on, of a format the model's recipe reads)."""

    snapshot = forms.ModelChoiceField(
        queryset=ExportSnapshot.objects.none(),
        error_messages={
            "required": "Choose the export snapshot to evaluate on.",
            "invalid_choice": "Choose a finished export snapshot, of a format this model's recipe reads.",
        },
    )

    def __init__(self, *args, snapshots, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["snapshot"].queryset = snapshots


class RegistryQueryForm(forms.Form):
    """The registry's filters, the snapshot whose test split its figures are on, and its sort (GET). ``choices``
    is :func:`training.selectors.registry_filter_choices`; a value outside them is a form error, and that
    filter alone is not applied."""

    recipe = forms.ChoiceField(required=False)
    snapshot = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Trained on")
    tag = forms.ChoiceField(required=False)
    campaign = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    on = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Metrics on the test split of")
    sort = forms.ChoiceField(required=False, choices=[(name, name) for name in REGISTRY_SORTS])
    order = forms.ChoiceField(required=False, choices=[("desc", "descending"), ("asc", "ascending")])

    def __init__(self, *args, choices: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recipe"].choices = [("", "any recipe")] + [(name, name) for name in choices["recipes"]]
        self.fields["snapshot"].choices = [("", "any export")] + [
            (snapshot.pk, f"#{snapshot.pk} {snapshot.format} · {snapshot.campaign.name}")
            for snapshot in choices["snapshots"]
        ]
        self.fields["tag"].choices = [("", "any tag")] + [(tag, tag) for tag in choices["tags"]]
        self.fields["campaign"].choices = [("", "any campaign")] + [
            (campaign.pk, campaign.name) for campaign in choices["campaigns"]
        ]
        self.fields["on"].choices = [("", "each model's own export")] + [
            (snapshot.pk, f"#{snapshot.pk} {snapshot.format} · {snapshot.campaign.name}")
            for snapshot in choices["evaluation_snapshots"]
        ]
        self.evaluation_snapshots = {snapshot.pk: snapshot for snapshot in choices["evaluation_snapshots"]}

    def query(self) -> dict:
        """Keyword arguments of :func:`training.selectors.registry_rows` (only the valid fields count)."""
        data: dict = {}
        if self.is_bound:
            self.is_valid()  # cleaned_data keeps the fields that are valid
            data = self.cleaned_data
        return {
            "recipe": data.get("recipe") or "",
            "snapshot_id": data.get("snapshot"),
            "tag": data.get("tag") or "",
            "campaign_id": data.get("campaign"),
            "evaluated_on": self.evaluation_snapshots.get(data.get("on")),
            "sort": data.get("sort") or "created",
            "descending": (data.get("order") or "desc") == "desc",
        }


class TrainForm(forms.Form):
    """Recipe, base model and the chosen recipe's key hyper-parameters, with defaults and help from rm_training's
    dataclasses. The recipe comes from the submitted data, else from ``initial``."""

    recipe = forms.ChoiceField(choices=[(name, name) for name in RECIPES])
    model_path = forms.CharField(required=False, label="Base model", help_text="One of the declared model folders.")
    num_processes = forms.IntegerField(min_value=1, max_value=16, initial=1, label="Processes (GPUs)")
    extra = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="More overrides, one key=value per line."
    )

    def __init__(self, *args, refresh_url: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if refresh_url:
            # choosing another recipe reloads the form with that recipe's hyper-parameters
            self.fields["recipe"].widget.attrs.update({
                "hx-get": refresh_url, "hx-target": "[data-train-form]", "hx-select": "[data-train-form]",
                "hx-swap": "outerHTML", "hx-trigger": "change",
            })
        self.fields["model_path"].widget = forms.Select(
            choices=[("", "— none (checklist-linear) —")] + [(str(path), str(path)) for path in base_model_choices()]
        )
        self.chosen_recipe = self.data.get("recipe") or self.initial.get("recipe") or RECIPES[0]
        self.hyperparameters = key_hyperparameters(recipe=self.chosen_recipe)
        for item in self.hyperparameters:
            field_class = FIELD_TYPES.get(item.kind, forms.CharField)
            self.fields[_field_key(item.name)] = field_class(
                label=item.name, initial=item.default, help_text=item.help, required=False
            )

    def clean_extra(self) -> dict[str, str]:
        overrides = {}
        for line in self.cleaned_data["extra"].splitlines():
            if not line.strip():
                continue
            key, separator, value = line.partition("=")
            if not separator:
                raise forms.ValidationError(f"{line!r} is not key=value")
            overrides[key.strip()] = value.strip()
        try:
            return check_override_keys(overrides)
        except TrainingError as error:
            raise forms.ValidationError(str(error)) from error

    def overrides(self) -> dict[str, str]:
        """Only what differs from the chosen recipe's defaults in rm_training (which its fields show), so the job shows
        what was chosen; a field left empty is the default."""
        chosen = {
            item.name: str(self.cleaned_data[_field_key(item.name)])
            for item in self.hyperparameters
            if self.cleaned_data[_field_key(item.name)] not in (None, "", item.default)
        }
        return {**chosen, **self.cleaned_data["extra"]}
