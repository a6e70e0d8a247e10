"""Training curves from metrics.jsonl: which metric goes to which chart, long runs thinned, a one-line run still
visible; the job's curves fragment and the compare view draw them."""

import json

import matplotlib.pyplot as plt
import pytest
from django.urls import reverse

from training.plots import MAX_POINTS, curve_series, plot_series, training_curves_svg
from training.services import training_job_create


def test_metrics_are_grouped_into_loss_reward_accuracy_and_learning_rate_charts():
    records = [
        {"step": 1, "stage": "sft", "loss": 2.0, "sft/loss": 2.0, "learning_rate": 1e-4, "processes": 1},
        {"step": 2, "stage": "grpo", "loss": 0.5, "grpo/loss": 0.5, "learning_rate": 5e-5,
         "grpo/reward_mean": 0.25, "grpo/format_reward": 1.0, "validation/accuracy_VA": 0.75, "flag": True},
        {"stage": "no step"},
    ]
    assert curve_series(records) == {
        "loss": {"loss": [(1, 2.0), (2, 0.5)]},
        "reward": {"grpo/reward_mean": [(2, 0.25)]},
        "accuracy": {"validation/accuracy_VA": [(2, 0.75)]},
        "learning rate": {"learning_rate": [(1, 1e-4), (2, 5e-5)]},
    }


def test_a_long_run_is_thinned_to_its_first_and_last_points_and_a_single_point_gets_a_marker():
    figure, axes = plt.subplots()
    plot_series(axes, [(step, 1.0 / step) for step in range(1, 10_001)], "long")
    plot_series(axes, [(800, 0.2)], "one line")
    long, single = axes.lines
    plt.close(figure)
    assert len(long.get_xdata()) == MAX_POINTS and long.get_xdata()[0] == 1 and long.get_xdata()[-1] == 10_000
    assert long.get_marker() == "None" and single.get_marker() == "o"
    svg = training_curves_svg(records=[{"step": step, "loss": 1.0 / step} for step in range(1, 10_001)])
    assert svg.startswith("<svg") and ">loss<" in svg


@pytest.mark.django_db
def test_the_job_page_loads_its_curves_and_a_running_job_refreshes_them(client, ml_engineer, pairwise_snapshot,
                                                                        tmp_path):
    job = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text(
        "\n".join(json.dumps({"step": step, "loss": 1 / step, "learning_rate": 0.1}) for step in (1, 2, 3)) + "\n")
    type(job).objects.filter(pk=job.pk).update(run_dir=str(run_dir), status="running")
    client.force_login(ml_engineer)

    page = client.get(reverse("training-job", args=[job.pk])).content.decode()
    fragment = client.get(reverse("training-job-curves", args=[job.pk])).content.decode()

    assert f'hx-get="{reverse("training-job-curves", args=[job.pk])}"' in page
    assert "<svg" in fragment and ">learning rate<" in fragment and 'hx-trigger="every 5s"' in fragment


@pytest.mark.django_db
def test_an_expert_cannot_read_a_jobs_curves(client, expert, pairwise_snapshot):
    job = training_job_create(snapshot=pairwise_snapshot, recipe="checklist-linear")
    client.force_login(expert)
    assert client.get(reverse("training-job-curves", args=[job.pk])).status_code == 403
