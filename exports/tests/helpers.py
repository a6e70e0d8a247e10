"""Small helpers shared by export tests."""

from __future__ import annotations

import json
from pathlib import Path

from exports.models import ExportSnapshot
from exports.services import export_build, export_snapshot_create


def build(campaign, export_format: str = "aesrm-pairwise", *, path=None, created_by=None, **options) -> ExportSnapshot:
    snapshot = export_snapshot_create(
        campaign=campaign, export_format=export_format, options=options, path=path, created_by=created_by
    )
    return export_build(snapshot_id=snapshot.pk)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def all_rows(folder: Path, splits=("train", "validation", "test")) -> dict[str, list[dict]]:
    return {split: read_jsonl(Path(folder) / f"{split}.jsonl") for split in splits}


def load(folder: Path, kind: str, cache: Path, files=("train", "validation", "test")):
    import datasets

    extension = "jsonl" if kind == "json" else "parquet"
    data_files = {name: str(folder / f"{name}.{extension}") for name in files}
    return datasets.load_dataset(kind, data_files=data_files, cache_dir=str(cache))
