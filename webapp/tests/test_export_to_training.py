"""From expert judgments to a trained reward model: the app's real export folder is what rm_training reads.

Four lavfi scenes (12 real clips, 12 pairs) are judged by three experts following the demo set's known
preferences; the better video's checklist is all yes and the worse one's all no. The exporter writes
`aesrm-pairwise` and `aesrm-base-sft` snapshots, and rm_training trains `checklist-linear` and a few steps of
`aesrm-base` on a tiny random Qwen2.5-VL from those folders.
"""

import json

import pytest

from annotation.models import ChecklistQuestion
from annotation.services import assignment_create, campaign_create, pair_judgment_submit
from exports.services import export_build, export_snapshot_create
from fixtures.demo_clips import generate_demo_set
from pipelines.ingest import manifest_import
from rm_training.cli import main as rm_training_main

pytestmark = pytest.mark.django_db

VERDICT_TO_SIDE = {1: "A", -1: "B", 0: "tie"}


@pytest.fixture(scope="module")
def four_scenes(tmp_path_factory):
    return generate_demo_set(tmp_path_factory.mktemp("scenes"), scenes=4, seconds=1.0, width=160, height=96)


def _checklist(campaign, answer: str) -> dict[int, str]:
    """Yes at every strongest option (fills the rest with yes), or no at every weakest option."""
    chosen: dict[str, ChecklistQuestion] = {}
    for question in campaign.checklist.questions.all():
        current = chosen.get(question.sub_dimension)
        if current is None:
            chosen[question.sub_dimension] = question
        elif (answer == "yes") == (question.level > current.level):
            chosen[question.sub_dimension] = question
    return {question.id: answer for question in chosen.values()}


@pytest.fixture
def judged_campaign(four_scenes, django_user_model, django_capture_on_commit_callbacks):
    campaign = campaign_create(name="to-training", overlap=3)
    with django_capture_on_commit_callbacks(execute=True):  # proxies are made after commit
        assert manifest_import(manifest_path=four_scenes.manifest_path, campaign=campaign).created == 12
    experts = [django_user_model.objects.create_user(username=f"judge-{i}", password="x") for i in range(3)]
    codes = {d.code: [c.code for c in d.criteria.all()] for d in campaign.rubric.dimensions.all()}
    for pair in campaign.pairs.select_related("video_a", "video_b"):
        expected = four_scenes.expected[pair.external_id]
        overall = sum(expected.values())
        answers_a = _checklist(campaign, "yes" if overall >= 0 else "no")
        answers_b = _checklist(campaign, "yes" if overall <= 0 else "no")
        for expert in experts:
            assignment = assignment_create(pair=pair, expert=expert, swapped=False)
            pair_judgment_submit(
                assignment=assignment,
                criteria={code: expected[dimension] for dimension, members in codes.items() for code in members},
                dimensions=dict(expected),
                checklist={pair.video_a_id: answers_a, pair.video_b_id: answers_b},
            )
    return campaign


def _export(campaign, export_format: str, folder):
    snapshot = export_snapshot_create(
        campaign=campaign, export_format=export_format, options={"split": [0.5, 0.25, 0.25], "seed": 3}, path=folder
    )
    snapshot = export_build(snapshot_id=snapshot.pk)
    assert snapshot.status == "succeeded", snapshot.error
    return snapshot


def test_checklist_linear_trains_and_evaluates_from_a_real_export(judged_campaign, four_scenes, tmp_path):
    snapshot = _export(judged_campaign, "aesrm-pairwise", tmp_path / "pairwise")
    folder = tmp_path / "pairwise"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "aesrm-pairwise" and sum(manifest["splits"].values()) == 12
    rows = [json.loads(line) for split in ("train", "validation", "test") for line in open(folder / f"{split}.jsonl")]
    for row in rows:
        expected = four_scenes.expected[row["pair_id"]]
        assert row["labels"] == {code: VERDICT_TO_SIDE[value] for code, value in expected.items()}
        assert row["n_raters"] == 3 and row["agreement"] == 1.0
        assert (folder / row["video_a"]).is_file()
    del snapshot

    run = tmp_path / "checklist-run"
    assert rm_training_main(["train", "--recipe", "checklist-linear", "--data", str(folder), "--out", str(run)]) == 0
    weights = json.loads((run / "checklist_weights.json").read_text())
    # one weight per question of the campaign's checklist, each question in its checklist dimension (eq. 6)
    listed = manifest["checklist"]["questions"]
    assert len(weights["weights"]) == len(weights["question_ids"]) == len(listed) == 64
    assert weights["question_dimensions"] == {str(question["id"]): question["dimension"] for question in listed}
    assert min(weights["weights"]) >= 0.0 and max(weights["weights"]) > 0.0
    assert rm_training_main(["eval", "--run", str(run), "--data", str(folder), "--split", "test"]) == 0
    metrics = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    # the one overall preference is compared with each rubric dimension's label
    assert set(metrics["dimensions"]) == {"VA", "VF", "VP"}
    assert all(0.0 <= entry["accuracy_with_ties"] <= 1.0 for entry in metrics["dimensions"].values())


def test_aesrm_base_runs_on_a_real_export_with_a_tiny_model(judged_campaign, tmp_path):
    from rm_training.tiny import save_tiny_qwen2_5_vl

    _export(judged_campaign, "aesrm-base-sft", tmp_path / "base")
    model = save_tiny_qwen2_5_vl(tmp_path / "tiny-model")
    run = tmp_path / "base-run"
    status = rm_training_main(
        [
            "train",
            "--recipe",
            "aesrm-base",
            "--data",
            str(tmp_path / "base"),
            "--out",
            str(run),
            f"model_path={model}",
            "video.fps=4",
            "video.max_frames=4",
            "video.max_pixels=3136",
            "optim.batch_size=2",
            "optim.learning_rate=3e-3",
            "stages.atomic_steps=2",
            "stages.sft_steps=4",
            "stages.grpo_steps=0",
        ]
    )
    assert status == 0
    metrics = json.loads((run / "train_metrics.json").read_text())
    assert metrics["final_step"] >= 4
    assert any((run / "checkpoints").iterdir())
