"""Peak memory of one GRPO step against prompt and completion length, today's code and the old one.

Usage::

    python benchmarks/grpo_memory.py                                  # prompts 500/1000/2000 x completions 32/128/256
    python benchmarks/grpo_memory.py --prompts 2000 --completions 32 256 --generations 4 --skip-old

The model is the tiny random Qwen2.5-VL of ``rm_training.tiny`` (2 layers, hidden 32) with the real
Qwen2.5-VL vocabulary (151,936 tokens), so the LM head and its logits weigh what they weigh at 7B
while everything else is small. A step is what the GRPO stage does per rollout: the policy's
log-probs with gradients, the reference's log-probs (KL beta 0.01), the clipped loss and backward.
The rollout is random token ids (no generation, no video): the step's memory depends on shapes only.

Measurement: each (code, prompt, completion) runs in its own subprocess; it loads the model and the
reference, runs a 10-token warm-up step (kernels, thread pools, gradient buffers), reads its resident
set (VmRSS), runs the step, and reports the process's peak resident set (``ru_maxrss``) minus that:
the memory the step itself added at its peak.
Torch's CPU tensors of this size are ``mmap``-ed blocks that glibc returns to the system when freed,
so the resident set follows the live tensors and its high-water mark is the step's peak (tracemalloc
does not see torch's allocations). "old" is ``rm_training/grpo.py`` and ``completion_logprobs`` of
commit ab473ad (before completion-only log-probs), loaded from git into a temporary module.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QWEN2_5_VL_VOCABULARY = 151_936
OLD_COMMIT = "ab473ad"


def _save_model(path: Path) -> Path:
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from rm_training.tiny import build_tiny_tokenizer, tiny_qwen2_5_vl_config

    tokenizer = build_tiny_tokenizer()
    config = tiny_qwen2_5_vl_config(tokenizer)
    config.text_config.vocab_size = QWEN2_5_VL_VOCABULARY
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _old_modules(work: Path):
    """ab473ad's grpo.py, importing ab473ad's modeling.py instead of today's."""
    import importlib

    def show(path: str) -> str:
        return subprocess.run(["git", "show", f"{OLD_COMMIT}:{path}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout

    (work / "grpo_old_modeling.py").write_text(show("rm_training/modeling.py"))
    grpo = show("rm_training/grpo.py").replace("from rm_training.modeling import", "from grpo_old_modeling import")
    (work / "grpo_old.py").write_text(grpo)
    sys.path.insert(0, str(work))
    return importlib.import_module("grpo_old")


def _resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(code: str, model_path: Path, prompt: int, completion: int, generations: int, work: Path) -> dict:
    """One step in this process; call in a fresh subprocess."""
    import torch

    from rm_training.config import GRPOConfig
    from rm_training.grpo import GRPOUpdates, Reference, Rollout, load_reference_model
    from rm_training.modeling import load_vlm

    torch.manual_seed(0)
    policy, _ = load_vlm(model_path, dtype="float32")
    policy.train()
    options = GRPOConfig(num_generations=generations, kl_beta=0.01)
    rewards = torch.arange(float(generations)).view(1, generations)
    if code == "old":
        old = _old_modules(work)
        reference = old.frozen_copy(policy)
    else:
        reference = Reference(load_reference_model(str(model_path), dtype="float32"))

    def step(prompt: int, completion: int) -> None:
        input_ids = torch.randint(16, QWEN2_5_VL_VOCABULARY, (generations, prompt + completion))
        mask = torch.zeros_like(input_ids)
        mask[:, prompt:] = 1
        batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
                 "mm_token_type_ids": torch.zeros_like(input_ids, dtype=torch.int)}
        if code == "old":
            rollout = old.Rollout(batch=batch, completion_mask=mask, texts=[""] * generations, prompt_length=prompt)
            loss, _ = old.grpo_step_loss(policy, reference, rollout, rewards, options)
        else:
            rollout = Rollout(batch=batch, completion_mask=mask, texts=[""] * generations, prompt_length=prompt)
            loss, _ = GRPOUpdates(policy, options, reference, lambda indices: (rollout, rewards))([0])
        loss.backward()
        policy.zero_grad(set_to_none=False)  # gradient buffers exist before the measured step

    step(8, 2)  # warm-up: kernels, thread pools and gradient buffers are not the step's memory
    before = _resident_mb()
    step(prompt, completion)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return {"code": code, "prompt": prompt, "completion": completion, "step_peak_mb": round(peak - before)}


def _table(results: list[dict], code: str, prompts: list[int], completions: list[int]) -> str:
    found = {(r["prompt"], r["completion"]): r["step_peak_mb"] for r in results if r["code"] == code}
    lines = [f"{code}: step peak MB (rows: prompt tokens, columns: completion tokens)",
             "prompt \\ completion" + "".join(f"{c:>10}" for c in completions)]
    for prompt in prompts:
        cells = "".join(f"{found.get((prompt, c), float('nan')):>10.0f}" for c in completions)
        lines.append(f"{prompt:>19}{cells}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--completions", type=int, nargs="+", default=[32, 128, 256])
    parser.add_argument("--generations", type=int, default=2, help="K completions of the one prompt")
    parser.add_argument("--skip-old", action="store_true", help="measure today's code only")
    parser.add_argument("--child", nargs=6, metavar=("CODE", "MODEL", "PROMPT", "COMPLETION", "K", "WORK"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        code, model, prompt, completion, generations, work = args.child
        print(json.dumps(measure(code, Path(model), int(prompt), int(completion), int(generations), Path(work))))
        return
    codes = ["new"] if args.skip_old else ["new", "old"]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        model = _save_model(work / "model")
        for code in codes:
            for prompt in args.prompts:
                for completion in args.completions:
                    child = subprocess.run(
                        [sys.executable, __file__, "--child", code, str(model), str(prompt), str(completion),
                         str(args.generations), str(work)],
                        capture_output=True, text=True,
                    )
                    if child.returncode != 0:
                        raise SystemExit(f"{code} prompt {prompt} completion {completion} failed:\n{child.stderr}")
                    result = json.loads(child.stdout.strip().splitlines()[-1])
                    print(json.dumps(result), flush=True)
                    results.append(result)
    print(f"\nK = {args.generations} completions, vocabulary {QWEN2_5_VL_VOCABULARY}, float32 tiny model")
    for code in codes:
        print("\n" + _table(results, code, args.prompts, args.completions))


if __name__ == "__main__":
    main()
