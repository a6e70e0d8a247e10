"""Every VLM recipe in two CPU processes (DDP over gloo), GRPO sampling included: the DDP wrapper has no
``generate`` and no ``config``, so sampling must unwrap it.

``accelerate launch --cpu --num_processes 2`` starts ONE process (accelerate's simple launcher; several
CPU processes need mpirun there). ``--multi_gpu --num_processes 2`` on a machine without CUDA starts two
through torchrun, and ``Accelerator(cpu=True)`` joins them over gloo."""

import json
import os
import subprocess
import sys
from pathlib import Path

FAST = ["video.fps=4", "video.max_frames=4", "video.max_pixels=3136", "optim.batch_size=1",
        "grpo.max_new_tokens=6", "grpo.num_generations=2", "save_every=1000"]


def test_every_vlm_recipe_trains_and_samples_in_two_cpu_processes(make_export, tiny_model_path, tmp_path):
    sizes = {"sizes": {"train": 4, "validation": 1, "test": 1}}
    exports = {name: make_export(name, **sizes) for name in ("cot-sft", "aesrm-base-sft", "rl-prompts")}
    runs = {
        # two steps of a stage: DDP finds a parameter the previous step left without a gradient at the next step
        "descore": (exports["cot-sft"], ["stages.reasoning_steps=1", "stages.sft_steps=2", "stages.grpo_steps=2"]),
        "aesrm-base": (exports["aesrm-base-sft"], ["stages.atomic_steps=1", "stages.sft_steps=1",
                                                   "stages.grpo_steps=1"]),
        "aesrm-cot": (exports["cot-sft"], ["stages.sft_steps=1", "stages.grpo_steps=1", "lora_rank=4"]),
        "rapo": (exports["rl-prompts"], ["stages.sft_steps=0", "stages.grpo_steps=1", "optim.batch_size=2"]),
    }
    argvs = [["train", "--recipe", recipe, "--data", str(export), "--out", str(tmp_path / recipe),
              f"model_path={tiny_model_path}", *FAST, *extra] for recipe, (export, extra) in runs.items()]
    (tmp_path / "runs.json").write_text(json.dumps(argvs))
    driver = Path(__file__).with_name("two_process_driver.py")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         str(driver), str(tmp_path / "runs.json")],
        capture_output=True, text=True, env=environment, timeout=600,
    )
    assert launched.returncode == 0, launched.stderr[-4000:]
    for recipe, (_, extra) in runs.items():
        logged = [json.loads(line) for line in (tmp_path / recipe / "metrics.jsonl").read_text().splitlines()]
        steps = sum(int(item.split("=")[1]) for item in extra if item.startswith("stages."))
        assert [entry["step"] for entry in logged] == list(range(1, steps + 1)), recipe
        assert {entry["processes"] for entry in logged} == {2}, recipe
    grpo_logged = [json.loads(line) for line in (tmp_path / "rapo" / "metrics.jsonl").read_text().splitlines()]
    assert "grpo/reward_mean" in grpo_logged[-1]


def test_a_training_job_launched_as_the_app_launches_it_ends_cleanly_in_both_processes(
    make_export, tiny_model_path, tmp_path
):
    # training/runner.py starts an N-process job as `accelerate launch -m rm_training train ...`: each process runs
    # rm_training/__main__.py once, which must leave the process group before its interpreter exits (left to the
    # exit, gloo's threads can abort a process whose work is done).
    export = make_export("aesrm-base-sft", sizes={"train": 4, "validation": 1, "test": 1})
    out = tmp_path / "aesrm-base"
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "rm_training", "train", "--recipe", "aesrm-base", "--data", str(export), "--out", str(out),
         f"model_path={tiny_model_path}", *FAST, "stages.sft_steps=2", "stages.grpo_steps=0"],
        capture_output=True, text=True, env=environment, timeout=600,
    )
    assert launched.returncode == 0, launched.stderr[-4000:]
    assert "terminate called" not in launched.stderr
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(entry["step"], entry["processes"]) for entry in logged] == [(1, 2), (2, 2)]
    summary = json.loads(launched.stdout[launched.stdout.index("{"):])  # printed once, by the main process
    assert summary["final_step"] == 2
