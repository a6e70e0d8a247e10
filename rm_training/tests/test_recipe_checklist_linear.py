import json

from rm_training.cli import main


def test_checklist_linear_trains_evaluates_and_selects_mpo_pairs(make_export, tmp_path):
    export = make_export("aesrm-pairwise", sizes={"train": 16, "validation": 4, "test": 8})
    run = tmp_path / "run"
    assert main(["train", "--recipe", "checklist-linear", "--data", str(export), "--out", str(run)]) == 0
    weights = json.loads((run / "checklist_weights.json").read_text())
    # q1/q2 separate good from bad clips; q3 is never answered (null -> 0) and keeps weight 0. One vector (eq. 4),
    # the dimensions from the manifest's checklist questions (eq. 6).
    assert weights["question_ids"] == ["1", "2", "3"]
    assert weights["weights"][0] > 0 and weights["weights"][1] > 0 and weights["weights"][2] == 0.0
    assert weights["question_dimensions"] == {"1": "Quality", "2": "Dynamic", "3": "Physics"}
    assert (run / "weight_table.md").read_text().splitlines()[2].startswith("| 1 | Quality | ")
    train_metrics = json.loads((run / "train_metrics.json").read_text())
    assert train_metrics["converged"] and train_metrics["train_accuracy"] == {"overall": 1.0}

    assert main(["eval", "--run", str(run), "--data", str(export), "--split", "test"]) == 0
    metrics = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    assert metrics["dimensions"]["VA"]["accuracy_without_ties"] == 1.0
    assert metrics["dimensions"]["VA"]["swap_consistency"] == 1.0
    assert (run / "eval" / "test" / "confusion_matrices.png").stat().st_size > 0
    assert "| VA |" in (run / "eval" / "test" / "report.md").read_text()
    assert (run / "eval" / "test" / "calibration.png").stat().st_size > 0

    assert main(["mpo-select", "--run", str(run), "--data", str(export)]) == 0
    pairs = [json.loads(line) for line in (run / "mpo_pairs_train.jsonl").read_text().splitlines()]
    # every good clip dominates its bad one in Quality and Dynamic by far more than the 0.6 total threshold
    assert len(pairs) == 16
    assert all(pair["chosen"] != pair["rejected"] for pair in pairs)
    assert all(pair["margins"]["Physics"] == 0.0 and abs(pair["margins"]["overall"]) >= 0.6 for pair in pairs)


def test_checklist_linear_logs_progress_lines_while_it_fits(make_export, tmp_path, monkeypatch):
    from rm_training.recipes import checklist_linear

    monkeypatch.setattr(checklist_linear, "LOG_INTERVAL_SECONDS", 0.0)  # every epoch
    export = make_export("aesrm-pairwise", sizes={"train": 16, "validation": 4, "test": 8})
    run = tmp_path / "run"
    assert main(["train", "--recipe", "checklist-linear", "--data", str(export), "--out", str(run),
                 "checklist.max_epochs=40", "checklist.tolerance=0"]) == 0

    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["stage"] for line in lines[:40]] == ["fit-overall"] * 40
    assert [line["step"] for line in lines[:-1]] == list(range(1, 41))
    assert lines[-1]["step"] == 40  # the bound the job page shows as total steps
    # the separable toy task: the log-loss falls as the fit goes on
    assert lines[39]["loss"] < lines[0]["loss"] < 0.7
