"""Forms of the curators' campaign pages: create a campaign, add a member, add pairs from a manifest."""

from __future__ import annotations

from django import forms

from annotation.models import Campaign, Checklist, Role, Rubric


class OverlapForm(forms.Form):
    """How many experts judge each pair: a fixed overlap, or adaptive between the overlap and a maximum."""

    overlap = forms.IntegerField(
        min_value=1,
        initial=3,
        help_text="How many different experts judge each pair (with a maximum: the fewest).",
    )
    max_overlap = forms.IntegerField(
        min_value=1,
        required=False,
        label="Maximum overlap",
        help_text="Adaptive overlap: a pair whose experts disagree (below the agreement threshold on a dimension) gets "
        "one more expert at a time, up to this many. Empty: every pair gets exactly the overlap.",
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        overlap, max_overlap = cleaned.get("overlap"), cleaned.get("max_overlap")
        if overlap is not None and max_overlap is not None and max_overlap < overlap:
            self.add_error("max_overlap", "The maximum overlap cannot be below the overlap.")
        return cleaned


class QueueModelForm(forms.Form):
    """Model-in-the-loop queue: the reward model whose doubts and disagreements order the experts' queue."""

    queue_model = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Queue model",
        empty_label="None: the queue ignores reward models",
        help_text="Among pairs equally far from their overlap, those this model found uncertain, or whose verdict "
        "goes against the experts' votes so far, go to experts first. Offered: models started scoring this campaign "
        "on its leaderboard page.",
    )

    def __init__(self, *args, campaign: Campaign, **kwargs):
        super().__init__(*args, **kwargs)
        from annotation.selectors import queue_model_choices

        self.fields["queue_model"].queryset = queue_model_choices(campaign=campaign)


class CampaignCreateForm(OverlapForm):
    field_order = ["name", "rubric", "checklist", "overlap", "max_overlap", "agreement_threshold", "guidelines"]

    name = forms.CharField(max_length=200)
    rubric = forms.ModelChoiceField(queryset=Rubric.objects.order_by("slug", "-version"), empty_label=None)
    checklist = forms.ModelChoiceField(
        queryset=Checklist.objects.order_by("slug", "-version"),
        required=False,
        empty_label="None: rubric verdicts only",
        help_text="The per-video yes/no questions experts answer besides the rubric, or none.",
    )
    agreement_threshold = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        initial=0.6,
        help_text="Pairs whose consensus is backed by a smaller share of raters go to adjudication.",
    )
    guidelines = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Markdown: what experts should know before judging. You can change it on the campaign page.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if Campaign.objects.filter(name=name).exists():
            raise forms.ValidationError("A campaign with this name exists already.")
        return name


class GuidelinesForm(forms.Form):
    guidelines = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=(
            "Markdown: what experts should know before judging. Show an example pair with [[pair:PAIR_ID]] or "
            "[[pair:PAIR_ID | what to notice]] on a line of its own (a pair of this campaign; experts see its "
            "videos and prompt, never its id)."
        ),
    )


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices)


class MultipleVideoInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleVideoField(forms.FileField):
    widget = MultipleVideoInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleVideoField, self).clean(file, initial) for file in files]


class ManifestUploadForm(forms.Form):
    manifest = forms.FileField(
        help_text="JSONL, one pair per line: prompt, video_a, video_b, optional pair_id, source_a, source_b."
    )
    videos = MultipleVideoField(
        required=False,
        widget=MultipleVideoInput(attrs={"accept": "video/*"}),
        help_text="The videos the manifest names by file name; paths inside the server's IMPORT_ROOTS need none.",
    )
