"""Recipes wire data, model and loop. Each module exposes ``train(config, export, run)`` and
``predict(run, export, rows) -> list[dict]`` (margins per dimension, A-minus-B, for each row), or, for
scored single-video data, ``evaluate_scores(run, export, rows) -> dict``."""

from __future__ import annotations

import importlib
from types import ModuleType

_MODULES = {
    "checklist-linear": "rm_training.recipes.checklist_linear",
    "checklist-vlm": "rm_training.recipes.checklist_vlm",
    "descore": "rm_training.recipes.descore",
    "aesrm-base": "rm_training.recipes.aesrm",
    "aesrm-cot": "rm_training.recipes.aesrm",
    "rapo": "rm_training.recipes.rapo",
}


def recipe_module(name: str) -> ModuleType:
    if name not in _MODULES:
        raise ValueError(f"unknown recipe {name!r}; expected one of {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[name])
