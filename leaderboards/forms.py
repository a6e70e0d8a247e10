from __future__ import annotations

from django import forms
from django.http import QueryDict

from leaderboards import ranking
from leaderboards.pairing import DEFAULT_ROUND_SIZE, MAX_ROUND_SIZE, STRATEGIES
from leaderboards.selectors import OVERALL

MAX_RESAMPLES = 2000
DEFAULTS = {
    "target": OVERALL,
    "source": "consensus",
    "resamples": str(ranking.DEFAULT_RESAMPLES),
    "seed": str(ranking.DEFAULT_SEED),
}


class LeaderboardForm(forms.Form):
    """What to rank and how, from the query string; every field has a default, so an empty query is valid."""

    target = forms.ChoiceField(label="Rank by", required=False)
    source = forms.ChoiceField(
        label="Labels",
        required=False,
        choices=[
            ("consensus", "Expert consensus (adjudication wins)"),
            ("weighted", "Raw judgments weighted by reliability"),
        ],
    )
    resamples = forms.IntegerField(label="Bootstrap resamples", required=False, min_value=0, max_value=MAX_RESAMPLES)
    seed = forms.IntegerField(label="Seed", required=False, min_value=0)
    also = forms.MultipleChoiceField(
        label="Pool with campaigns on the same rubric version", required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, data=None, *, targets: list[tuple[str, str]], comparable: list[tuple[int, str]]):
        super().__init__(data)
        self.fields["target"].choices = targets
        self.fields["also"].choices = [(str(pk), name) for pk, name in comparable]

    @staticmethod
    def with_defaults(query: QueryDict) -> QueryDict:
        """The query with every option the user left out set to its default, so the form shows what was used."""
        data = query.copy()
        for name, default in DEFAULTS.items():
            if not data.get(name):
                data[name] = default
        return data

    def options(self) -> dict:
        """Keyword arguments for leaderboard_for, defaults filled in."""
        data = self.cleaned_data if self.is_valid() else {}
        resamples = data.get("resamples")
        seed = data.get("seed")
        return {
            "target": data.get("target") or OVERALL,
            "source": data.get("source") or "consensus",
            "n_resamples": ranking.DEFAULT_RESAMPLES if resamples is None else resamples,
            "seed": ranking.DEFAULT_SEED if seed is None else seed,
        }

    def also_ids(self) -> list[int]:
        data = self.cleaned_data if self.is_valid() else {}
        return [int(pk) for pk in data.get("also", [])]


class PairingForm(forms.Form):
    """A pairing strategy and its parameters (leaderboards.pairing)."""

    strategy = forms.ChoiceField(choices=list(STRATEGIES.items()), initial="all_pairs")
    opponents = forms.IntegerField(
        min_value=1, max_value=50, initial=2, help_text="k, for random opponents: opponents drawn per video."
    )
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0, help_text="Seed of the random draw.")
    round_size = forms.IntegerField(
        label="Pairs this round",
        required=False,
        min_value=1,
        max_value=MAX_ROUND_SIZE,
        initial=DEFAULT_ROUND_SIZE,
        help_text="Active: new pairs in this round.",
    )
    target = forms.ChoiceField(
        label="Settle the ranking by",
        required=False,
        initial=OVERALL,
        help_text="Active: whose consensus judgments count.",
    )

    def __init__(self, data=None, *, targets: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["target"].choices = targets or [(OVERALL, "Overall")]

    @staticmethod
    def initial_options() -> dict:
        return {name: field.initial for name, field in PairingForm.base_fields.items()}

    def options(self) -> dict:
        """Keyword arguments for pairing_plan and pairing_apply; the active-only fields default when left out."""
        data = self.cleaned_data
        return {
            "strategy": data["strategy"],
            "opponents": data["opponents"],
            "seed": data["seed"],
            "round_size": data.get("round_size") or DEFAULT_ROUND_SIZE,
            "target": data.get("target") or OVERALL,
        }
