"""The model playground, driven through gradio_client against the running app (uvicorn serving webapp's ASGI app:
Django plus the Gradio playground at /playground/) and against `manage.py playground --model RUN_DIR`.

The models are tiny random Qwen2.5-VLs trained for a step on real clips: their answers are gibberish, which is
itself a case the playground must show (kept verbatim, counted as comparable, with the parser's reason).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from rm_training.cli import main as rm_training_main
from rm_training.tests.export_builder import build_checklist_qa_export, build_export, make_clips
from training.playground import SOURCE_HELD_OUT, SOURCE_UPLOAD
from training.services import registered_model_delete
from training.tests.conftest import TINY_VIDEO
from webapp.testing import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]


def _session_cookie(client, user) -> str:
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _test_rows(snapshot_path: str) -> dict[str, dict]:
    lines = (Path(snapshot_path) / "test.jsonl").read_text().splitlines()
    return {str(row["pair_id"]): row for row in map(json.loads, lines)}


def _playground(url: str, cookie: str | None = None) -> Client:
    # the mount takes POSTs only from its own site (training/tests/test_playground_security.py)
    headers = {"Origin": url} | ({"Cookie": cookie} if cookie else {})
    return Client(f"{url}/playground/", headers=headers, verbose=False)


def test_an_ml_engineer_judges_a_test_pair_with_the_tiny_model(playground_url, registered_model, ml_engineer, client):
    playground = _playground(playground_url, _session_cookie(client, ml_engineer))
    rows = _test_rows(registered_model.snapshot.path)
    pair_id = sorted(rows)[0]

    heading, verdicts, criteria, written, summary = playground.predict(
        f"model:{registered_model.pk}", SOURCE_HELD_OUT, pair_id, None, None, "", api_name="/judge"
    )

    assert f"Test pair {pair_id}" in heading and "aesrm-base" in heading
    assert summary["recipe"] == "aesrm-base"
    assert set(summary["verdicts"]) == {"VA", "VF", "VP"} and set(summary["verdicts"].values()) <= {-1, 0, 1}
    # the swapped-order answer is there, in canonical terms, with the consistency per dimension
    assert set(summary["b_shown_first"]["verdicts"]) == {"VA", "VF", "VP"}
    orders = summary["a_shown_first"]["verdicts"], summary["b_shown_first"]["verdicts"]
    assert summary["swap_consistent"] == {d: orders[0][d] == orders[1][d] for d in ("VA", "VF", "VP")}
    # the experts' consensus labels of that pair sit beside the model's answer
    assert summary["expert_labels"]["dimensions"] == rows[pair_id]["labels"]
    assert summary["expert_labels"]["criteria"] == rows[pair_id]["criteria"]
    words = {"A": "A better", "B": "B better", "tie": "comparable"}
    table = verdicts["data"]
    assert [row[0][:2] for row in table] == ["VA", "VF", "VP"]
    assert [row[4] for row in table] == [words[rows[pair_id]["labels"][d]] for d in ("VA", "VF", "VP")]
    assert len(criteria["data"]) == 15  # one row per rubric criterion, with the experts' verdicts
    # one training step of a random model writes gibberish: shown verbatim, with the parser's reason
    assert "--- A shown first" in written and "--- B shown first" in written
    assert summary["a_shown_first"]["parse_error"] and "unreadable" in written
    assert summary["a_shown_first"]["verdicts"] == {"VA": 0, "VF": 0, "VP": 0}


def test_uploaded_videos_are_judged_and_files_that_are_not_videos_are_refused(
    playground_url, registered_model, ml_engineer, client, four_scenes, tmp_path
):
    playground = _playground(playground_url, _session_cookie(client, ml_engineer))
    clips = sorted(Path(four_scenes.manifest_path).parent.rglob("*.mp4"))
    key = f"model:{registered_model.pk}"

    *_, summary = playground.predict(
        key, SOURCE_UPLOAD, None, handle_file(str(clips[0])), handle_file(str(clips[1])),
        "a quiet harbour at dawn", api_name="/judge",
    )
    assert summary["pair"] == "Uploaded pair: a quiet harbour at dawn"
    assert summary["expert_labels"] is None and set(summary["verdicts"]) == {"VA", "VF", "VP"}

    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is a text file with a video's name")
    with pytest.raises(AppError, match=r"Video B \(holiday\.mp4\): not a readable video file"):
        playground.predict(
            key, SOURCE_UPLOAD, None, handle_file(str(clips[0])), handle_file(str(fake)), "",
            api_name="/judge",
        )
    with pytest.raises(AppError, match="Upload two videos"):
        playground.predict(key, SOURCE_UPLOAD, None, handle_file(str(clips[0])), None, "", api_name="/judge")


def test_the_playground_is_only_for_signed_in_ml_engineers(playground_url, registered_model, expert, client):
    page = httpx.get(f"{playground_url}/playground/", follow_redirects=False)
    assert page.status_code == 302 and page.headers["location"] == "/accounts/login/?next=/playground/"
    assert httpx.get(f"{playground_url}/playground/config").status_code == 401
    as_expert = {"Cookie": _session_cookie(client, expert)}
    assert httpx.get(f"{playground_url}/playground/config", headers=as_expert).status_code == 401
    # the rest of the app is served by Django through the same ASGI application
    assert httpx.get(f"{playground_url}/accounts/login/").status_code == 200


def test_unknown_models_and_models_whose_files_were_deleted_are_refused(
    playground_url, registered_model, ml_engineer, client
):
    playground = _playground(playground_url, _session_cookie(client, ml_engineer))
    with pytest.raises(AppError, match="not available to you"):
        playground.predict("model:99999", SOURCE_HELD_OUT, "1", None, None, "", api_name="/judge")
    registered_model_delete(model=registered_model)
    with pytest.raises(AppError, match="not available to you"):
        playground.predict(f"model:{registered_model.pk}", SOURCE_HELD_OUT, "1", None, None, "", api_name="/judge")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve_run_folder(run: Path, tmp_path: Path):
    """``manage.py playground --model RUN`` on a free port: (process, url) once it serves."""
    port = _free_port()
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "playground", "--model", str(run), "--port", str(port)],
        cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )

    def serving():
        assert server.poll() is None, server.stdout.read()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/config").status_code == 200
        except httpx.TransportError:
            return False

    try:
        # a ceiling, not a wait: the app imports torch, transformers and gradio, slow on a loaded machine
        wait_until(serving, timeout=180, message="manage.py playground to serve")
    except BaseException:
        server.terminate()
        server.wait(timeout=20)
        raise
    return server, f"http://127.0.0.1:{port}"


def test_the_playground_command_serves_a_descore_run_folder(tiny_model, tmp_path):
    export = build_export(tmp_path / "export", "aesrm-pairwise", make_clips(tmp_path / "clips"),
                          sizes={"train": 4, "validation": 1, "test": 2})
    run = tmp_path / "run"
    arguments = ["--recipe", "descore", "--data", str(export), "--out", str(run), f"model_path={tiny_model}"]
    assert rm_training_main(["train", *arguments, "stages.sft_steps=1", "descore.eval_cot_tokens=0", *TINY_VIDEO]) == 0
    server, url = _serve_run_folder(run, tmp_path)
    try:
        pair_id = str(json.loads((export / "test.jsonl").read_text().splitlines()[0])["pair_id"])
        *_, summary = Client(f"{url}/", verbose=False).predict(
            f"run:{run.resolve()}", SOURCE_HELD_OUT, pair_id, None, None, "", api_name="/judge"
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert summary["recipe"] == "descore"
    for dimension in ("VA", "VF", "VP"):
        margin = summary["rewards_a"][dimension] - summary["rewards_b"][dimension]
        assert summary["a_shown_first"]["margins"][dimension] == pytest.approx(margin)
    assert summary["expert_labels"]["dimensions"]  # the run's own export gave the test pair its labels


def test_the_playground_scores_uploaded_videos_with_a_checklist_vlm_and_its_linear_weights(tiny_model, tmp_path):
    """VisionReward on new videos: the checklist-vlm run answers each uploaded video's checklist, the
    checklist-linear run it was trained with scores the answers per checklist dimension (eq. 6) and overall."""
    clips = make_clips(tmp_path / "clips")
    pairwise = build_export(tmp_path / "pairwise", "aesrm-pairwise", clips, sizes={"train": 8, "validation": 1,
                                                                                  "test": 1})
    linear, vlm = tmp_path / "linear", tmp_path / "vlm"
    assert rm_training_main(["train", "--recipe", "checklist-linear", "--data", str(pairwise), "--out",
                             str(linear)]) == 0
    questions = build_checklist_qa_export(tmp_path / "qa", clips)
    assert rm_training_main(["train", "--recipe", "checklist-vlm", "--data", str(questions), "--out", str(vlm),
                             f"model_path={tiny_model}", "stages.sft_steps=1", f"checklist_vlm.linear_run={linear}",
                             *TINY_VIDEO]) == 0
    server, url = _serve_run_folder(vlm, tmp_path)
    try:
        *_, summary = Client(f"{url}/", verbose=False).predict(
            f"run:{vlm.resolve()}", SOURCE_UPLOAD, None, handle_file(str(clips["good"][0])),
            handle_file(str(clips["bad"][0])), "a cinematic shot", api_name="/judge",
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert summary["recipe"] == "checklist-vlm" and summary["expert_labels"] is None
    dimensions = {"Quality", "Dynamic", "Physics", "overall"}
    assert set(summary["rewards_a"]) == set(summary["rewards_b"]) == set(summary["verdicts"]) == dimensions
    for dimension in dimensions:
        margin = summary["rewards_a"][dimension] - summary["rewards_b"][dimension]
        assert summary["a_shown_first"]["margins"][dimension] == pytest.approx(margin)
    assert summary["rewards_a"]["overall"] == pytest.approx(
        sum(summary["rewards_a"][d] for d in ("Quality", "Dynamic", "Physics"))
    )
    assert "checklist questions for video A" in summary["notes"][0]


@pytest.fixture
def small_upload_limit(settings, registered_model):
    settings.VIDEO_MAX_BYTES = 20_000  # after the model's clips were ingested, before the app is built


def test_an_upload_over_the_size_limit_is_refused_before_it_is_stored(
    small_upload_limit, playground_url, registered_model, ml_engineer, client, four_scenes, tmp_path
):
    cookie = _session_cookie(client, ml_engineer)
    clip = sorted(Path(four_scenes.manifest_path).parent.rglob("*.mp4"))[0]
    large = tmp_path / "large.mp4"
    large.write_bytes(clip.read_bytes() + b"\0" * 30_000)
    with pytest.raises(ValueError, match="large.mp4 exceeds the maximum file size of 20000 bytes"):
        _playground(playground_url, cookie).predict(
            f"model:{registered_model.pk}", SOURCE_UPLOAD, None, handle_file(str(clip)), handle_file(str(large)), "",
            api_name="/judge",
        )
    # the server enforces it too (what a browser meets)
    with large.open("rb") as upload:
        response = httpx.post(
            f"{playground_url}/playground/gradio_api/upload",
            files={"files": upload},
            headers={"Cookie": cookie, "Origin": playground_url},
        )
    assert response.status_code == 413
