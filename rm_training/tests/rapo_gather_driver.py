"""One process of the two-process FRank check: ``accelerate launch --multi_gpu --num_processes 2
rapo_gather_driver.py OUT`` (CPU processes joined over gloo). Process p scores its share of :data:`BATCH` with
:func:`rm_training.recipes.rapo.batch_rewards` and writes the rewards to ``OUT/rewards-<p>.json``.

The shares are uneven (two videos, then one) so the gather has to pad and cut."""

import json
import sys
from pathlib import Path

K = 2
# (completions, target) per video; "no score" is an unreadable answer
BATCH = [
    (["<answer>0.7</answer>", "<answer>0.9</answer>"], 0.8),
    (["<answer>0.2</answer>", "no score"], 0.3),
    (["<answer>0.5</answer>", "<answer>0.4</answer>"], 0.5),
]
SHARES = [BATCH[:2], BATCH[2:]]


def texts_and_targets(videos: list[tuple[list[str], float]]) -> tuple[list[str], list[float]]:
    return [text for texts, _ in videos for text in texts], [target for _, target in videos]


if __name__ == "__main__":
    import torch
    from accelerate import Accelerator

    from rm_training.distributed import process_group_close
    from rm_training.recipes.rapo import batch_rewards

    torch.set_num_threads(1)
    accelerator = Accelerator(cpu=True)
    texts, targets = texts_and_targets(SHARES[accelerator.process_index])
    rewards = batch_rewards(texts, targets, K, sigma=0.1, accelerator=accelerator)
    out = Path(sys.argv[1]) / f"rewards-{accelerator.process_index}.json"
    out.write_text(json.dumps({"processes": accelerator.num_processes, "rewards": rewards.tolist()}))
    process_group_close()
