"""Seeded train/validation/test assignment by prompt group (see docs/export-formats.md, "Splits").

The unit of a split is the prompt group: every row whose normalised prompt is the same lands in the
same split, so no prompt is seen in training and evaluated on. Groups are ordered by a seeded hash
(independent of Python's `random` and of the database's row order), then each goes to a split still empty, else
to the split furthest below its target row count. Groups holding a gold pair can be forced into test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SPLITS = ("train", "validation", "test")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)


class SplitError(ValueError):
    """Split ratios that cannot be honoured: malformed, or a split would be empty."""


def prompt_normalise(prompt: str) -> str:
    """Case and whitespace do not make a new prompt."""
    return " ".join(prompt.casefold().split())


def prompt_group_of(prompt: str) -> str:
    return hashlib.sha256(prompt_normalise(prompt).encode("utf-8")).hexdigest()[:16]


def split_ratios_parse(text: str | Iterable[float]) -> tuple[float, float, float]:
    """ "0.8/0.1/0.1" (or three numbers) -> (0.8, 0.1, 0.1); each must be positive and they must sum to 1."""
    if isinstance(text, str):
        try:
            values = tuple(float(part) for part in text.replace(",", "/").split("/"))
        except ValueError as error:
            raise SplitError(f"split must look like 0.8/0.1/0.1, got {text!r}") from error
    else:
        values = tuple(float(value) for value in text)
    if len(values) != 3:
        raise SplitError(f"split needs three ratios (train/validation/test), got {len(values)}")
    if any(value <= 0 for value in values):
        raise SplitError(f"every split ratio must be positive (no split may be empty), got {values}")
    if abs(sum(values) - 1.0) > 1e-6:
        raise SplitError(f"split ratios must sum to 1, got {values} (sum {sum(values):g})")
    return values  # type: ignore[return-value]


def _seeded_key(seed: int, group: str) -> str:
    return hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()


def split_plan(
    *,
    group_sizes: dict[str, int],
    ratios: tuple[float, float, float] = DEFAULT_RATIOS,
    seed: int = 0,
    forced_test: Iterable[str] = (),
) -> dict[str, str]:
    """Prompt group -> split name.

    group_sizes: rows per group; forced_test: groups that must go to test (e.g. those with gold pairs).
    Raises SplitError when a split would receive no row.
    """
    forced = set(forced_test) & set(group_sizes)
    total = sum(group_sizes.values())
    targets = [ratio * total for ratio in ratios]
    filled = [0, 0, sum(group_sizes[group] for group in forced)]
    plan = {group: "test" for group in forced}
    for group in sorted(set(group_sizes) - forced, key=lambda group: _seeded_key(seed, group)):
        # Splits still empty come first (the largest target first) so a small export reaches every split; then
        # the split furthest below its target takes the group (the first on a tie), which keeps a large export
        # within a group's size of the ratios.
        empty = [index for index in range(len(SPLITS)) if filled[index] == 0]
        if empty:
            index = max(empty, key=lambda index: (targets[index], -index))
        else:
            deficits = [target - count for target, count in zip(targets, filled, strict=True)]
            index = deficits.index(max(deficits))
        plan[group] = SPLITS[index]
        filled[index] += group_sizes[group]
    counts = split_sizes(plan=plan, group_sizes=group_sizes)
    empty = [name for name in SPLITS if counts[name] == 0]
    if empty:
        raise SplitError(
            f"the {'/'.join(empty)} split would be empty: {total} rows in {len(group_sizes)} prompt groups "
            f"({len(forced)} forced into test) cannot be split {'/'.join(f'{r:g}' for r in ratios)}; "
            "export more pairs or change --split"
        )
    return plan


def split_sizes(*, plan: dict[str, str], group_sizes: dict[str, int]) -> dict[str, int]:
    counts = dict.fromkeys(SPLITS, 0)
    for group, split in plan.items():
        counts[split] += group_sizes[group]
    return counts
