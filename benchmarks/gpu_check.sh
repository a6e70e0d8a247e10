#!/usr/bin/env bash
# Real-size GPU check of rm_training (issue 13): random-weight Qwen2.5-VL-3B and -7B in bf16, a few steps
# of descore and aesrm-cot GRPO with and without LoRA, against a plain transformers.Trainer and TRL's
# GRPOTrainer (frames as images; skipped without trl), beside the memory plan. Under 8 minutes on one
# H200; nothing is downloaded.
#
#   benchmarks/gpu_check.sh                  # on the GPU machine (its own python3, or PYTHON=...)
#   benchmarks/gpu_check.sh --dry-run        # tiny model on CPU: exercises every code path here
#   benchmarks/gpu_check.sh --shapes qwen2.5-vl-7b
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"

fail() { echo "gpu_check: $*" >&2; exit 2; }
command -v "$PYTHON" >/dev/null || fail "no Python at '$PYTHON' (set PYTHON=/path/to/python)"
command -v ffmpeg >/dev/null || fail "ffmpeg is not on PATH (the check encodes its own clips)"
command -v timeout >/dev/null || fail "coreutils' timeout is missing"

# what the check needs, with the versions it was written for (torch 2.11 / transformers 5.17 on the GPU machine)
"$PYTHON" - "$@" <<'PY' || exit 2
import importlib.util, sys
problems = []
if sys.version_info < (3, 10):
    problems.append(f"Python 3.10+ needed, this is {sys.version.split()[0]}")
for name in ("torch", "transformers", "accelerate", "peft", "yaml", "tokenizers", "numpy", "PIL"):
    if importlib.util.find_spec(name) is None:
        problems.append(f"package {name} is missing (pip install -r requirements.txt)")
if not problems:
    import torch, transformers
    major = int(transformers.__version__.split(".")[0])
    if major < 5:
        problems.append(f"transformers 5.x needed, found {transformers.__version__}")
    elif not hasattr(transformers, "Qwen2_5_VLForConditionalGeneration"):
        problems.append("this transformers has no Qwen2_5_VLForConditionalGeneration")
    if "--dry-run" not in sys.argv[1:]:
        if not torch.cuda.is_available():
            problems.append(f"no CUDA GPU visible to torch {torch.__version__} (use --dry-run on CPU)")
        elif not torch.cuda.is_bf16_supported():
            problems.append("this GPU has no bf16 support")
missing = [name for name in ("trl", "datasets") if importlib.util.find_spec(name) is None]
if missing:
    print(f"gpu_check: {', '.join(missing)} not installed: the TRL GRPOTrainer baseline will be skipped", file=sys.stderr)
if problems:
    print("gpu_check: cannot run here:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(2)
PY

# 470 s hard stop; the Python side stops starting new cases after --budget-seconds (440 by default)
exec timeout 470 "$PYTHON" benchmarks/gpu_check.py "$@"
