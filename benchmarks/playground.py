"""Latency of the model playground: loading a run, judging one pair directly, and the same through Gradio.

Usage::

    python benchmarks/playground.py                     # tiny random Qwen2.5-VL on CPU
    python benchmarks/playground.py --model-path DIR    # a real-size local model
    python benchmarks/playground.py --pairs 10 --new-tokens 64

For aesrm-cot (generative: two answers per pair, one per display order) and descore (one forward pass per video):
the time to load the run (``PairJudge.for_run``), then per pair the best and median of ``judge`` on the test split,
then the same pairs through ``gradio_client`` against ``manage.py playground --model RUN_DIR`` (HTTP, queue and
file handling on top; the server keeps the model loaded).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _train(recipe: str, export: Path, run: Path, model: Path, new_tokens: int) -> None:
    from rm_training.cli import main

    overrides = [f"model_path={model}", "stages.sft_steps=1", "video.fps=4", "video.max_frames=4",
                 "video.max_pixels=3136", f"grpo.max_new_tokens={new_tokens}", "descore.eval_cot_tokens=0"]
    if main(["train", "--recipe", recipe, "--data", str(export), "--out", str(run), *overrides]) != 0:
        raise SystemExit(f"training {recipe} failed")


def _pairs(export: Path, count: int) -> list[tuple[str, object]]:
    from rm_training.export import open_export
    from rm_training.judging import PairInput

    opened = open_export(export)
    rows = [json.loads(line) for line in (export / "test.jsonl").read_text().splitlines()[:count]]
    return [(str(row["pair_id"]), PairInput.from_export_row(opened, row)) for row in rows]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _through_gradio(run: Path, pair_ids: list[str]) -> list[float]:
    import httpx
    from gradio_client import Client

    port = _free_port()
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{run.parent / 'unused.sqlite3'}",
                   "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([sys.executable, "manage.py", "playground", "--model", str(run), "--port", str(port)],
                              cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/config").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        key = f"run:{run.resolve()}"
        client.predict(key, "Pair from the test split", pair_ids[0], None, None, "", api_name="/judge")  # loads
        times = []
        for pair_id in pair_ids:
            start = time.perf_counter()
            client.predict(key, "Pair from the test split", pair_id, None, None, "", api_name="/judge")
            times.append(time.perf_counter() - start)
        return times
    finally:
        server.terminate()
        server.wait(timeout=30)


def _figures(label: str, times: list[float]) -> str:
    return f"{label}: best {min(times) * 1000:.0f} ms, median {statistics.median(times) * 1000:.0f} ms (n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", help="local base model folder (default: a tiny random Qwen2.5-VL)")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--new-tokens", type=int, default=32, help="answer length for the generative recipe")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    from rm_training.judging import PairJudge
    from rm_training.tests.export_builder import build_export, make_clips
    from rm_training.tiny import save_tiny_qwen2_5_vl

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        clips = make_clips(work / "clips")
        model = Path(args.model_path) if args.model_path else save_tiny_qwen2_5_vl(work / "tiny-model")
        sizes = {"train": 2, "validation": 1, "test": args.pairs}
        for recipe, export_format in (("aesrm-cot", "cot-sft"), ("descore", "aesrm-pairwise")):
            export = build_export(work / export_format, export_format, clips, sizes=sizes)
            run = work / f"run-{recipe}"
            _train(recipe, export, run, model, args.new_tokens)
            start = time.perf_counter()
            judge = PairJudge.for_run(run)
            load = time.perf_counter() - start
            pairs = _pairs(export, args.pairs)
            judge.judge(pairs[0][1])  # warm-up
            times = []
            for _, pair in pairs:
                start = time.perf_counter()
                judge.judge(pair)
                times.append(time.perf_counter() - start)
            print(f"{recipe}: load {load:.2f} s")
            print("  " + _figures("judge (direct)", times))
            print("  " + _figures("judge through Gradio", _through_gradio(run, [pair_id for pair_id, _ in pairs])))


if __name__ == "__main__":
    main()
