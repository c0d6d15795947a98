"""Remembered sha256 digests of big files (weights), so a 1.2 GB checkpoint is hashed once per version.

    sha256_of(path) -> str               # a file's bytes hashed, read in chunks (no record)
    file_sha256(path) -> str             # from the record when the file is unchanged, else hashed (and recorded)
    file_sha256(path, fresh=True)        # hash regardless, refresh the record
    remembered_sha256(path) -> str|None  # never hashes
    remember_check(path, "finite")       # a check this file version passed (no hashing needed) ...
    passed_check(path, "finite") -> bool # ... so a later load may skip it

The record is a small JSON file in interp's cache dir, keyed by resolved path and checked
against the file's version (`_version`: size, mtime_ns, ctime_ns and inode): any rewrite (or
`touch`) of the file invalidates its entry, also one that puts back the old size and mtime. Writing
it is best effort: a read-only or full home must not stop interp from running.

Runs share it (parallel morphs, a batch's job array, a host and its containers on one cache), so an
update reads, changes and writes it under a lock (`files.held_lock`): each one merges with the
others' entries. The record keeps the MAX_RECORDS most recently used entries; whether a path exists
is no test, since another machine or container sharing the cache sees other files than this one.

Runs that need one file's digest at once (a job array's tasks, after one of them downloaded the weights)
read it once: one hashes it under that file's own lock (`_hashing_lock`), the others wait for it and take
its entry, checked against the file as it is once they hold the lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from interp_cli.errors import InterpError
from interp_cli.cache_folders import cache_dir
from interp_cli.files import PathLike, atomic_write, held_lock

RECORDS_FILENAME = "sha256-records.json"
_RECORDS_VERSION = 1
# Entries kept, most recently used first: each is ~200 bytes, and a lost one costs a rehash (seconds for
# 1.2 GB), so the bound is generous; it only keeps a cache shared by many machines from growing forever.
MAX_RECORDS = 256
# How long an update waits for another run's lock (held for one small JSON write) before it goes on unlocked.
LOCK_WAIT_SECONDS = 5.0
# Where the runs' hashing locks are, in the cache dir (`_hashing_lock`).
HASHING_FOLDER = "hashing"
# The slowest reading a wait for another run's hash allows for (`_hashing_wait`): 1.2 GB in about a minute,
# a network mount's pace; a local disk hashes it in a few seconds.
HASH_WAIT_BYTES_PER_SECOND = 20_000_000
# A remembered entry is marked used again at most this often, so a hit rarely costs a write.
_USED_REFRESH_SECONDS = 24 * 3600

_HASH_CHUNK_BYTES = 8 * 1024 * 1024


def sha256_of(path: PathLike) -> str:
    """Hex sha256 of a file's bytes, read in chunks (a 1.2 GB checkpoint never sits in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike, *, fresh: bool = False, reading: Callable[[], None] | None = None) -> str:
    """The sha256 of a file, from the record when the file is unchanged since it was last hashed.

    `fresh=True` hashes regardless (and refreshes the record). `reading` is called just before this run reads the
    file, and only then: not for a remembered digest, nor while it waits for another run's (a caller's "verifying"
    line said so before the wait, in each of three workers of which one hashed).
    """
    path = Path(path)
    before = path.stat()
    if fresh:
        return _hash(path, before, reading)
    remembered = _remembered(path, before)
    if remembered is not None:
        return remembered
    # Runs that start together (a job array's tasks, all verifying the weights one of them just downloaded) would
    # each read the whole file: one hashes, under this file's lock, and the others take its digest from the record.
    # Looked up again once the lock is held, against the file as it is then: an entry vouches only for the version
    # (`_version`) it was made for, and none is made for a file that changed while it was read.
    with held_lock(_hashing_lock(path), wait=_hashing_wait(before.st_size)):
        now = path.stat()
        remembered = _remembered(path, now)
        return remembered if remembered is not None else _hash(path, now, reading)


def _hash(path: Path, before: os.stat_result, reading: Callable[[], None] | None = None) -> str:
    """Hash the file and remember the digest, if it was one version (`before`) throughout."""
    if reading is not None:
        reading()
    digest = sha256_of(path)
    after = path.stat()
    # A file rewritten while it was being hashed has no single hash worth remembering.
    if _version(before) == _version(after):
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
    """Whether this version of the file (`_version`) passed `check` before (`remember_check`)."""
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

    def add_check(record: dict | None) -> dict:
        record = dict(record) if isinstance(record, dict) and _same_version(record, stat) else {}
        checks = record.get("checks") if isinstance(record.get("checks"), list) else []
        record.update(_version(stat), checks=sorted({*checks, check}))
        return record

    _update(path, add_check)


def _version(stat: os.stat_result) -> dict[str, int]:
    """What tells one version of a file from another. Size and mtime alone did not: `cp -p`, `rsync -t`, `tar x`
    and a backup's restore put another file's bytes in place with the old size and mtime, and the old digest was
    reused, so a swapped checkpoint passed as the verified preset. ctime is set by the kernel on every write and
    every metadata change (utime included) and cannot be set back by a program; the inode tells a file renamed
    into place (rsync's way) from the one it replaced. Not st_dev: one cache serves a host and its containers,
    where one file can show another device number, and would be rehashed in turn."""
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns, "ino": stat.st_ino}


def _same_version(record: dict, stat: os.stat_result) -> bool:
    """Whether `record` was made for this version of the file (an entry from before ctime and inode were
    recorded is not: the file is hashed once more)."""
    return all(record.get(key) == value for key, value in _version(stat).items())


def records_path() -> Path:
    return cache_dir() / RECORDS_FILENAME


def _hashing_lock(path: Path) -> Path:
    """What a run holds while it hashes `path` (`held_lock` adds `.lock`): one per file, so runs hashing two
    different files do not wait for each other. Best effort: a folder that cannot be made leaves runs unlocked."""
    folder = cache_dir() / HASHING_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return folder / hashlib.sha256(os.fsencode(_record_key(path))).hexdigest()[:16]


def _hashing_wait(size: int) -> float:
    """How long a run waits for another's hash of a file of `size` bytes before it hashes the file itself: the
    time a slow disk takes (HASH_WAIT_BYTES_PER_SECOND) and the record's own lock wait. A stuck hasher (a hung
    network mount) costs that much once, never a hang; a dead one lets go of its lock at once."""
    return LOCK_WAIT_SECONDS + size / HASH_WAIT_BYTES_PER_SECOND


def _record_key(path: Path) -> str:
    # Resolved, so the HF cache's snapshot symlink and the blob it points to share one record.
    return str(path.resolve())


def _load_records() -> dict[str, dict]:
    try:
        data = json.loads(records_path().read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
        return {}  # no record yet, or a damaged one: hashes are simply recomputed
    if not isinstance(data, dict) or data.get("version") != _RECORDS_VERSION or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


def _remembered(path: Path, stat: os.stat_result) -> str | None:
    record = _load_records().get(_record_key(path))
    if isinstance(record, dict) and _same_version(record, stat) and isinstance(record.get("sha256"), str):
        if not time.time() - _used(record) < _USED_REFRESH_SECONDS:
            # Still in use: keep it among the most recently used, so a busy cache does not prune it.
            _update(path, lambda now: now if isinstance(now, dict) and _same_version(now, stat) else None)
        return record["sha256"]
    return None


def _remember(path: Path, stat: os.stat_result, digest: str) -> None:
    def with_digest(record: dict | None) -> dict:
        checks = record.get("checks") if isinstance(record, dict) and _same_version(record, stat) else None
        record = {**_version(stat), "sha256": digest}
        if isinstance(checks, list):  # what this same version passed stays known
            record["checks"] = checks
        return record

    _update(path, with_digest)


def _used(record) -> float:
    used = record.get("used") if isinstance(record, dict) else None
    return float(used) if isinstance(used, (int, float)) and not isinstance(used, bool) else 0.0


def _update(path: Path, change: Callable[[dict | None], dict | None]) -> None:
    """Replace `path`'s entry with `change(entry as it is now)` (None: leave it), marked used now, keeping the
    MAX_RECORDS most recently used entries. Best effort: a cache that cannot be written is left as it is."""
    target = records_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Read under the lock: the entries other runs wrote since this one last read the record stay.
        with held_lock(target, wait=LOCK_WAIT_SECONDS):
            records = _load_records()
            key = _record_key(path)
            record = change(records.get(key))
            if record is None:
                return
            records[key] = {**record, "used": time.time()}
            if len(records) > MAX_RECORDS:
                newest = sorted(records, key=lambda name: _used(records[name]), reverse=True)[:MAX_RECORDS]
                records = {name: records[name] for name in newest}
            with atomic_write(target, "w", encoding="utf-8") as handle:
                json.dump({"version": _RECORDS_VERSION, "files": records}, handle, indent=1, sort_keys=True)
    except (OSError, InterpError):
        pass
