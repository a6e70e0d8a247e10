from __future__ import annotations

from django import forms

VERDICT_CHOICES = [("", "—"), ("1", "A better"), ("0", "Comparable"), ("-1", "B better")]


class PairLabelForm(forms.Form):
    """One verdict select per criterion and dimension code (blank: leave that code alone), a reason, and which
    action the curator chose: adjudicate the pair, or save the labels as its gold answer."""

    action = forms.ChoiceField(
        choices=[("adjudicate", "Adjudicate"), ("gold", "Save as gold"), ("ungold", "Remove gold")]
    )
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, criteria: list[str], dimensions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria_codes, self.dimension_codes = criteria, dimensions
        for code in criteria + dimensions:
            self.fields[f"verdict_{code}"] = forms.ChoiceField(choices=VERDICT_CHOICES, required=False, label=code)

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "adjudicate" and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why: an adjudication without a reason cannot be audited.")
        if action in ("adjudicate", "gold") and not any(
            data.get(f"verdict_{code}") for code in self.criteria_codes + self.dimension_codes
        ):
            what = "adjudicate" if action == "adjudicate" else "save as the gold answer"
            raise forms.ValidationError(f"Choose at least one verdict to {what}.")
        return data

    def labels(self) -> tuple[dict[str, int], dict[str, int]]:
        def chosen(codes):
            return {
                code: int(self.cleaned_data[f"verdict_{code}"])
                for code in codes
                if self.cleaned_data.get(f"verdict_{code}")
            }

        return chosen(self.criteria_codes), chosen(self.dimension_codes)


class ConfusionForm(forms.Form):
    first = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    second = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    variable = forms.ChoiceField(required=False)

    def __init__(self, *args, experts: list[tuple[int, str]], variables: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["first"].choices = experts
        self.fields["second"].choices = experts
        self.fields["second"].initial = experts[1][0] if len(experts) > 1 else None
        self.fields["variable"].choices = variables


class PairFilterForm(forms.Form):
    """The pair browser's filter bar (GET): every field optional, an unknown value is ignored."""

    text = forms.CharField(required=False, label="Prompt or pair id", max_length=200)
    source = forms.ChoiceField(required=False, label="Source")
    status = forms.ChoiceField(
        required=False,
        label="Status",
        choices=[("", "Any"), ("unjudged", "Unjudged"), ("in_progress", "In progress"), ("judged", "Fully judged")],
    )
    agreement = forms.ChoiceField(
        required=False,
        label="Agreement",
        choices=[
            ("", "Any"),
            ("agreed", "Agreed"),
            ("disagreed", "Disagreed"),
            ("awaiting", "Awaiting adjudication"),
        ],
    )
    flags = forms.ChoiceField(
        required=False, label="Flags", choices=[("", "Any"), ("flagged", "Flagged"), ("unflagged", "Not flagged")]
    )
    adjudication = forms.ChoiceField(
        required=False,
        label="Adjudication",
        choices=[
            ("", "Any"),
            ("gold", "Gold set"),
            ("not_gold", "No gold"),
            ("adjudicated", "Adjudicated"),
            ("not_adjudicated", "Not adjudicated"),
        ],
    )

    def __init__(self, *args, sources: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "Any")] + [(source, source) for source in sources]

    def filters(self) -> dict[str, str]:
        """The valid filters (blank where a value was missing or unknown), as PairFilters takes them."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {name: data.get(name) or "" for name in self.fields}
