"""Campaigns whose pairs pit named generators against each other: database rows only, no media files are read."""

from __future__ import annotations

from agreement.tests.factories import campaign_make, expert_make, judge
from annotation.models import Campaign, VideoPair
from annotation.tests.factories import VideoFactory, VideoPairFactory

# The true order of the judged campaign: best first.
STRENGTH = {"sora-ckpt-3": 3, "veo-nightly": 2, "base-v1": 1}


def generator_pair(
    campaign: Campaign, generator_a: str, generator_b: str, *, external_id: str, category: str = ""
) -> VideoPair:
    return VideoPairFactory(
        campaign=campaign,
        external_id=external_id,
        video_a=VideoFactory(source_model=generator_a),
        video_b=VideoFactory(source_model=generator_b),
        metadata={"category": category} if category else {},
    )


def generator_campaign(*, name: str, matchups: list[tuple[str, str]], members: dict | None = None) -> Campaign:
    """A rubric-only campaign with one pair per (generator_a, generator_b) matchup, named m1, m2, ..."""
    campaign = campaign_make(name=name, pairs=0, members=members)
    for index, (generator_a, generator_b) in enumerate(matchups, start=1):
        generator_pair(campaign, generator_a, generator_b, external_id=f"m{index}")
    return campaign


def verdict_by_strength(pair: VideoPair) -> int:
    """+1 when video A's generator is the stronger in STRENGTH, -1 when B's is, 0 for equals."""
    difference = STRENGTH[pair.video_a.source_model] - STRENGTH[pair.video_b.source_model]
    return (difference > 0) - (difference < 0)


JUDGED_MATCHUPS = (
    [("sora-ckpt-3", "veo-nightly")] * 3
    + [("veo-nightly", "sora-ckpt-3")]
    + [("veo-nightly", "base-v1")] * 3
    + [("base-v1", "sora-ckpt-3")] * 3
)
# Pairs where the experts preferred the weaker generator's video: every generator wins and loses somewhere.
UPSETS = {"m4", "m8"}


def judged_generator_campaign(*, name: str = "checkpoints", members: dict | None = None) -> Campaign:
    """Ten pairs of three generators, each judged by three experts on every criterion and dimension alike. They
    prefer the stronger generator except in the upsets m4 (veo-nightly over sora-ckpt-3) and m8 (base-v1 over
    sora-ckpt-3); the third expert calls m5 comparable. Consensus record: sora-ckpt-3 won 5 of 7, veo-nightly 4 of
    7, base-v1 1 of 6, so the order is sora-ckpt-3 > veo-nightly > base-v1."""
    campaign = generator_campaign(name=name, matchups=JUDGED_MATCHUPS, members=members)
    experts = [expert_make(f"{name}-judge-{index}", campaign) for index in (1, 2, 3)]
    for pair in campaign.pairs.select_related("video_a", "video_b").order_by("id"):
        verdict = -verdict_by_strength(pair) if pair.external_id in UPSETS else verdict_by_strength(pair)
        for expert in experts:
            given = 0 if (expert == experts[2] and pair.external_id == "m5") else verdict
            judge(pair, expert, default=given)
    return campaign


def registered_model_make(campaign: Campaign, run_dir, *, name: str = "tiny-descore", recipe: str = "descore"):
    """A registered model row trained (on paper) on an export of `campaign`; its run folder is `run_dir`."""
    from exports.models import ExportSnapshot
    from training.models import RegisteredModel, TrainingJob

    snapshot = ExportSnapshot.objects.create(
        campaign=campaign,
        format="aesrm-pairwise",
        options={},
        path=str(run_dir) + "-export",
        status=ExportSnapshot.Status.SUCCEEDED,
    )
    job = TrainingJob.objects.create(
        recipe=recipe, snapshot=snapshot, run_dir=str(run_dir), status=TrainingJob.Status.SUCCEEDED
    )
    return RegisteredModel.objects.create(job=job, name=name, recipe=recipe, snapshot=snapshot, run_dir=str(run_dir))


class StrengthJudge:
    """A stand-in for a loaded PairJudge: prefers the video of the stronger generator in STRENGTH on every
    dimension, reading the generator from the file it is given. `answers` overrides the answer per generator
    matchup: "garbage" (an answer that does not parse) or "crash" (the judge raises). `die_after`: raise
    WorkerKilled on that call, as a worker killed mid-job stops."""

    def __init__(self, campaign: Campaign, *, answers: dict | None = None, die_after: int | None = None):
        from annotation.models import Video

        self.generator_of = {}
        for video in Video.objects.filter(pairs_as_a__campaign=campaign) | Video.objects.filter(
            pairs_as_b__campaign=campaign
        ):
            for stored in (video.file, video.proxy):
                if stored:
                    self.generator_of[stored.storage.path(stored.name)] = video.source_model
        self.answers = answers or {}
        self.die_after = die_after
        self.calls = 0

    def judge(self, pair):
        from rm_training.judging import OrderAnswer, PairJudgement

        self.calls += 1
        if self.die_after is not None and self.calls >= self.die_after:
            raise WorkerKilled
        generators = (self.generator_of[str(pair.video_a)], self.generator_of[str(pair.video_b)])
        answer = self.answers.get(generators)
        if answer == "crash":
            raise RuntimeError("CUDA error: device-side assert triggered")
        if answer == "garbage":
            original = OrderAnswer(verdicts={"VA": 0, "VF": 0, "VP": 0}, text="<answer>VA: maybe", parse_error="no")
        else:
            difference = STRENGTH[generators[0]] - STRENGTH[generators[1]]
            verdict = (difference > 0) - (difference < 0)
            original = OrderAnswer(verdicts={"VA": verdict, "VF": verdict, "VP": verdict})
        return PairJudgement(recipe="descore", original=original, swapped=original)


class WorkerKilled(BaseException):
    """What a killed worker looks like from inside the job: nothing after it runs (not even `except Exception`)."""
