"""Remembered sha256 digests of big files (weights), so a 1.2 GB checkpoint is hashed once per version.

    file_sha256(path) -> str             # from the record when the file is unchanged, else hashed (and recorded)
    file_sha256(path, fresh=True)        # hash regardless, refresh the record
    remembered_sha256(path) -> str|None  # never hashes
    remember_check(path, "finite")       # a check this file version passed (no hashing needed) ...
    passed_check(path, "finite") -> bool # ... so a later load may skip it

The record is a small JSON file in interp's cache dir, keyed by resolved path and checked
against size + mtime_ns: any rewrite (or `touch`) of the file invalidates its entry. Writing it
is best effort: a read-only or full home must not stop interp from running.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from interp_cli.errors import InterpError
from interp_cli.files import atomic_write, cache_dir, sha256_of

RECORDS_FILENAME = "sha256-records.json"
_RECORDS_VERSION = 1


def file_sha256(path: str | os.PathLike, *, fresh: bool = False) -> str:
    """The sha256 of a file, from the record when the file is unchanged since it was last hashed.

    `fresh=True` hashes regardless (and refreshes the record).
    """
    path = Path(path)
    before = path.stat()
    if not fresh:
        remembered = _remembered(path, before)
        if remembered is not None:
            return remembered
    digest = sha256_of(path)
    after = path.stat()
    # A file rewritten while it was being hashed has no single hash worth remembering.
    if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
        _remember(path, after, digest)
    return digest


def remembered_sha256(path: str | os.PathLike) -> str | None:
    """The file's sha256 if it was hashed before and is unchanged since; None otherwise (never hashes)."""
    path = Path(path)
    try:
        return _remembered(path, path.stat())
    except OSError:
        return None


def passed_check(path: str | os.PathLike, check: str) -> bool:
    """Whether this version of the file (same size and mtime_ns) passed `check` before (`remember_check`)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return False
    record = _load_records().get(_record_key(path))
    return (isinstance(record, dict) and _same_version(record, stat) and isinstance(record.get("checks"), list)
            and check in record["checks"])


def remember_check(path: str | os.PathLike, check: str) -> None:
    """Record that this version of the file passed `check` (best effort, like the digests)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return
    records = _load_records()
    record = records.get(_record_key(path))
    record = dict(record) if isinstance(record, dict) and _same_version(record, stat) else {}
    checks = record.get("checks") if isinstance(record.get("checks"), list) else []
    record.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns, checks=sorted({*checks, check}))
    _write_record(path, record, records)


def _same_version(record: dict, stat: os.stat_result) -> bool:
    return record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns


def records_path() -> Path:
    return cache_dir() / RECORDS_FILENAME


def _record_key(path: Path) -> str:
    # Resolved, so the HF cache's snapshot symlink and the blob it points to share one record.
    return str(path.resolve())


def _load_records() -> dict[str, dict]:
    try:
        data = json.loads(records_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no record yet, or a damaged one: hashes are simply recomputed
    if not isinstance(data, dict) or data.get("version") != _RECORDS_VERSION or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


def _remembered(path: Path, stat: os.stat_result) -> str | None:
    record = _load_records().get(_record_key(path))
    if (
        isinstance(record, dict)
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
        and isinstance(record.get("sha256"), str)
    ):
        return record["sha256"]
    return None


def _remember(path: Path, stat: os.stat_result, digest: str) -> None:
    records = _load_records()
    record = records.get(_record_key(path))
    checks = record.get("checks") if isinstance(record, dict) and _same_version(record, stat) else None
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    if isinstance(checks, list):  # what this same version passed stays known
        record["checks"] = checks
    _write_record(path, record, records)


def _write_record(path: Path, record: dict, records: dict[str, dict]) -> None:
    records = {key: value for key, value in records.items() if os.path.exists(key)}
    records[_record_key(path)] = record
    target = records_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target, "w", encoding="utf-8") as handle:
            json.dump({"version": _RECORDS_VERSION, "files": records}, handle, indent=1, sort_keys=True)
    except (OSError, InterpError):
        pass
