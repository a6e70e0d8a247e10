"""Reading export snapshots (docs/export-formats.md): manifest, split rows, media paths.

Rows are read from the JSONL files (the Parquet twins hold the same rows; JSONL keeps nulls and
nested structs exactly as written). :func:`read_rows` falls back to Parquet when a JSONL is absent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("aesrm-pairwise", "cot-sft", "aesrm-base-sft", "rl-prompts", "checklist-qa", "preference-pairs")
SPLITS = ("train", "validation", "test", "ties")
SUPPORTED_SCHEMA_VERSIONS = (1,)


class ExportError(ValueError):
    """The folder is not a readable export, or not the format the recipe needs."""


@dataclass(frozen=True)
class Export:
    root: Path
    manifest: dict

    @property
    def format(self) -> str:
        return self.manifest["format"]

    @property
    def criteria(self) -> dict[str, list[str]]:
        """Dimension code -> criterion codes, from the manifest's rubric."""
        return dict(self.manifest.get("rubric", {}).get("dimensions", {}))

    @property
    def criterion_codes(self) -> list[str]:
        return [code for codes in self.criteria.values() for code in codes]

    def manifest_sha256(self) -> str:
        return hashlib.sha256((self.root / "manifest.json").read_bytes()).hexdigest()

    def media_path(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if self.root.resolve() not in path.parents:
            raise ExportError(f"media path {relative!r} leaves the export folder")
        if not path.is_file():
            raise ExportError(f"media file {relative!r} is missing from {self.root}")
        return path

    def rows(self, split: str) -> list[dict]:
        return read_rows(self.root, split)


def open_export(root: Path | str, expected_formats: tuple[str, ...] | None = None) -> Export:
    """Open an export folder, checking the manifest and (optionally) its format."""
    root = Path(root)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise ExportError(f"{root} is not an export: no manifest.json")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise ExportError(f"{manifest_path} is not valid JSON: {error}") from error
    export_format = manifest.get("format")
    if export_format not in FORMATS:
        raise ExportError(f"{manifest_path}: unknown format {export_format!r}; expected one of {', '.join(FORMATS)}")
    if manifest.get("schema_version") not in SUPPORTED_SCHEMA_VERSIONS:
        raise ExportError(f"{manifest_path}: schema_version {manifest.get('schema_version')!r} is not supported")
    if expected_formats is not None and export_format not in expected_formats:
        raise ExportError(
            f"export {root} has format {export_format!r}, but this recipe needs "
            f"{' or '.join(repr(f) for f in expected_formats)}"
        )
    return Export(root=root, manifest=manifest)


def read_rows(root: Path | str, split: str) -> list[dict]:
    if split not in SPLITS:
        raise ExportError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    root = Path(root)
    jsonl = root / f"{split}.jsonl"
    if jsonl.is_file():
        with jsonl.open() as handle:
            return [json.loads(line) for line in handle if line.strip()]
    parquet = root / f"{split}.parquet"
    if parquet.is_file():
        import pyarrow.parquet as pq

        return pq.read_table(parquet).to_pylist()
    raise ExportError(f"export {root} has no {split} split")
