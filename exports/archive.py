"""A snapshot folder as a .tar byte stream: headers written by hand around each file's chunks, so a
multi-gigabyte export is sent without being read into memory or written to disk a second time. Entries are
manifest.json first, then the other files in path order, with fixed owner, mode and mtime (the archive of a
folder is always the same bytes)."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

BLOCK = 512
CHUNK = 1 << 20


def _entries(folder: Path, root_name: str) -> list[tuple[Path, bytes]]:
    files = sorted(
        (path for path in folder.rglob("*") if path.is_file()),
        key=lambda path: (path.name != "manifest.json" or path.parent != folder, path.relative_to(folder).as_posix()),
    )
    entries = []
    for path in files:
        info = tarfile.TarInfo(f"{root_name}/{path.relative_to(folder).as_posix()}")
        info.size = path.stat().st_size
        info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, 0, "", ""
        entries.append((path, info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8")))
    return entries


def _padding(size: int) -> int:
    return (BLOCK - size % BLOCK) % BLOCK


def tar_size(*, folder: Path, root_name: str) -> int:
    return (
        sum(
            len(header) + path.stat().st_size + _padding(path.stat().st_size)
            for path, header in _entries(folder, root_name)
        )
        + 2 * BLOCK
    )


def tar_stream(*, folder: Path, root_name: str) -> Iterator[bytes]:
    for path, header in _entries(Path(folder), root_name):
        yield header
        size = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                size += len(chunk)
                yield chunk
        yield b"\0" * _padding(size)
    yield b"\0" * (2 * BLOCK)
