"""The run folder: resolved config, provenance, metrics and checkpoints.

RUN_DIR/
  config.yaml            resolved config (what actually ran)
  run.json               git commit, export manifest hash and format, versions, start times
  metrics.jsonl          one JSON object per logged step
  metrics.json           final / evaluation metrics
  tensorboard/           TensorBoard event files
  checkpoints/step-000010/   model, head and optimizer state + state.json {"step": 10, ...}
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from rm_training.config import ConfigError, TrainConfig, config_to_dict
from rm_training.export import Export

CHECKPOINT_PREFIX = "step-"


def git_commit(directory: Path | None = None) -> str:
    directory = directory or Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


class RunDir:
    def __init__(self, path: Path | str):
        self.path = Path(path)

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def start(self, config: TrainConfig, export: Export) -> None:
        """Create the folder and record what runs; a resumed run appends to ``run.json``."""
        import torch
        import transformers

        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "config.yaml").write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
        info = self.read_json("run.json") or {"starts": []}
        manifest_hash = export.manifest_sha256()
        if info.get("data_manifest_sha256") not in (None, manifest_hash):
            raise ConfigError(
                f"{self.path} was started on a different export (manifest hash {info['data_manifest_sha256']}); "
                "use a new --out folder"
            )
        info.update(
            {
                "recipe": config.recipe,
                "git_commit": git_commit(),
                "data": str(export.root),
                "data_format": export.format,
                "data_manifest_sha256": manifest_hash,
                "data_code_version": export.manifest.get("code_version"),
                "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
            }
        )
        if config.grpo.data:
            from rm_training.export import open_export

            info["grpo_data"] = config.grpo.data
            info["grpo_data_manifest_sha256"] = open_export(config.grpo.data).manifest_sha256()
        info["starts"].append(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.write_json("run.json", info)

    def config(self) -> TrainConfig:
        from rm_training.config import load_config

        return load_config(self.path / "config.yaml")

    def write_json(self, name: str, data: dict) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        return target

    def read_json(self, name: str) -> dict | None:
        target = self.path / name
        return json.loads(target.read_text()) if target.is_file() else None

    def log_metrics(self, step: int, metrics: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps({"step": step, **metrics}, default=float) + "\n")

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"{CHECKPOINT_PREFIX}{step:06d}"

    def last_checkpoint(self) -> Path | None:
        if not self.checkpoints.is_dir():
            return None
        complete = [p for p in self.checkpoints.glob(f"{CHECKPOINT_PREFIX}*") if (p / "state.json").is_file()]
        return max(complete, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]), default=None)

    def prune_checkpoints(self, keep: int) -> None:
        complete = sorted(
            (p for p in self.checkpoints.glob(f"{CHECKPOINT_PREFIX}*") if (p / "state.json").is_file()),
            key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]),
        )
        for old in complete[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
