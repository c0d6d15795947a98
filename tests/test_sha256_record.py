"""interp_cli.sha256_record: runs sharing one record merge their entries, and pruning keeps what others use."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interp_cli import sha256_record

ROOT = Path(__file__).resolve().parents[1]

# One writer process: wait for the start signal, then record the sha256 of each file given.
_WRITER = """
import os, sys, time
from interp_cli.sha256_record import file_sha256
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.001)
for name in sys.argv[2:]:
    file_sha256(name)
"""


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "INTERP_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}


def _records(cache: Path) -> dict:
    return json.loads((cache / sha256_record.RECORDS_FILENAME).read_text())["files"]


def test_concurrent_runs_keep_every_entry(tmp_path):
    """6 processes recording 20 files each at once: before, each wrote back the record it had read, and
    the others' entries written meanwhile were lost (6 parallel morphs left 5 entries)."""
    cache, go = tmp_path / "cache", tmp_path / "go"
    names = []
    for writer in range(6):
        mine = []
        for index in range(20):
            path = tmp_path / f"w{writer}-{index}.pt"
            path.write_bytes(f"{writer} {index}".encode())
            mine.append(str(path))
        names.append(mine)
    runs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(go), *mine], env=_env(cache)) for mine in names]
    time.sleep(1.0)  # every interpreter started and waiting, so the writes overlap
    go.touch()
    assert [run.wait(timeout=120) for run in runs] == [0] * 6
    records = _records(cache)
    for name in (name for mine in names for name in mine):
        assert records.get(str(Path(name).resolve()), {}).get("sha256") == hashlib.sha256(
            Path(name).read_bytes()).hexdigest(), name


def test_an_entry_for_a_path_only_another_mount_sees_is_kept(tmp_path):
    """A host and a container (or nodes with other mounts) sharing one cache: the weights that one of them
    records lie at a path the other cannot see. Before, each write dropped every entry whose path did not
    exist here, so the two deleted each other's entries and the checkpoint was hashed again every run."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    cache = tmp_path / "cache"
    elsewhere = tmp_path / "elsewhere"  # an empty folder here; a tmpfs with the weights in the other namespace
    elsewhere.mkdir()
    theirs = elsewhere / "theirs.pt"
    script = (f"mount -t tmpfs tmpfs {elsewhere} && printf theirs > {theirs} && "
              f"{sys.executable} -c 'from interp_cli.sha256_record import file_sha256; file_sha256(\"{theirs}\")'")
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    done = subprocess.run([*unshare, "sh", "-c", script], env=_env(cache), capture_output=True, text=True)
    if done.returncode != 0 and not (cache / sha256_record.RECORDS_FILENAME).exists():
        pytest.skip(f"no private mount namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert not theirs.exists() and str(theirs.resolve()) in _records(cache)

    ours = tmp_path / "ours.pt"
    ours.write_bytes(b"ours")
    subprocess.run([sys.executable, "-c", _WRITER, str(ours), str(ours)], env=_env(cache), check=True)
    records = _records(cache)
    assert records[str(theirs.resolve())]["sha256"] == hashlib.sha256(b"theirs").hexdigest()
    assert records[str(ours.resolve())]["sha256"] == hashlib.sha256(b"ours").hexdigest()


def test_the_record_keeps_the_most_recently_used_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sha256_record, "MAX_RECORDS", 5)
    paths = []
    for index in range(8):
        path = tmp_path / f"{index}.pt"
        path.write_bytes(bytes([index]))
        paths.append(path)
        sha256_record.file_sha256(path)
        time.sleep(0.01)  # distinct "used" times
    assert sorted(_records(tmp_path / "cache")) == sorted(str(p.resolve()) for p in paths[3:])


def test_a_lock_held_by_a_stuck_run_delays_an_update_but_never_stops_it(tmp_path, monkeypatch):
    """Another process holds the record's lock and never lets go (hung on NFS, stopped): the update
    waits LOCK_WAIT_SECONDS, then goes on without the lock; the hash is returned either way."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("INTERP_CACHE_DIR", str(cache))
    monkeypatch.setattr(sha256_record, "LOCK_WAIT_SECONDS", 0.5)
    lock = cache / f"{sha256_record.RECORDS_FILENAME}.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        weights = tmp_path / "w.pt"
        weights.write_bytes(b"weights")
        started = time.monotonic()
        assert sha256_record.file_sha256(weights) == hashlib.sha256(b"weights").hexdigest()
        assert 0.4 < time.monotonic() - started < 10
        assert sha256_record.remembered_sha256(weights) == hashlib.sha256(b"weights").hexdigest()
    finally:
        holder.kill()
        holder.wait()


# A run whose reading of the file is watched: it notes each hash it makes in LOG (one line per hash, after the
# bytes are read) and, if HOLD is given, then waits for that file before it goes on, as a slow disk would.
_WATCHED = """
import os, sys, time
from interp_cli import sha256_record
from interp_cli.sha256_record import sha256_of
log, hold, target = sys.argv[1:4]

def watched(path):
    digest = sha256_of(path)
    with open(log, "a") as out:
        out.write(digest + "\\n")
    while hold and not os.path.exists(hold):
        time.sleep(0.01)
    return digest

sha256_record.sha256_of = watched
print(sha256_record.file_sha256(target))
"""


def _watched(tmp_path: Path, target: Path, hold: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WATCHED, str(tmp_path / "hashes"), str(hold or ""), str(target)],
                            env=_env(tmp_path / "cache"), stdout=subprocess.PIPE, text=True)


def _hashes_made(tmp_path: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 60
    log = tmp_path / "hashes"
    while time.monotonic() < deadline:
        made = log.read_text().splitlines() if log.exists() else []
        if len(made) >= count:
            return made
        time.sleep(0.01)
    raise AssertionError(f"no {count} hashes within a minute")


def test_runs_hashing_one_file_at_once_read_it_once(tmp_path):
    """A job array's first tasks verify the weights one of them just downloaded: before, each read the whole file
    (1.2 GB, seconds each, more on network storage); now one hashes and the others take its digest."""
    weights = tmp_path / "w.pt"
    weights.write_bytes(os.urandom(2_000_000))
    hold = tmp_path / "hold"
    first = _watched(tmp_path, weights, hold)  # holds on, as a long read does, once it has the digest
    _hashes_made(tmp_path, 1)
    others = [_watched(tmp_path, weights) for _ in range(2)]
    time.sleep(1.0)  # both started and looked for a digest while the first was still reading
    hold.touch()
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    for run in (first, *others):
        assert run.communicate(timeout=60)[0].strip() == expected
        assert run.returncode == 0
    assert _hashes_made(tmp_path, 1) == [expected]  # one read of the file among the three
    assert _records(tmp_path / "cache")[str(weights.resolve())]["sha256"] == expected


def test_a_file_changed_while_another_run_hashed_it_is_hashed_again(tmp_path):
    """A run that waited for another's hash must not take a digest of bytes that changed meanwhile: the file is
    rewritten (same size) while the first run reads it, so that run records nothing and the waiting one hashes the
    new bytes itself."""
    weights = tmp_path / "w.pt"
    old = os.urandom(1_000_000)
    weights.write_bytes(old)
    hold = tmp_path / "hold"
    first = _watched(tmp_path, weights, hold)
    _hashes_made(tmp_path, 1)  # the old bytes read; the run is yet to check that the file stayed as it was
    waiting = _watched(tmp_path, weights)
    time.sleep(1.0)
    new = os.urandom(len(old))
    weights.write_bytes(new)
    hold.touch()
    assert first.communicate(timeout=60)[0].strip() == hashlib.sha256(old).hexdigest()  # what it read
    assert waiting.communicate(timeout=60)[0].strip() == hashlib.sha256(new).hexdigest()
    assert _hashes_made(tmp_path, 2) == [hashlib.sha256(old).hexdigest(), hashlib.sha256(new).hexdigest()]
    # The record vouches for the new bytes only, as they are on disk now.
    assert _records(tmp_path / "cache")[str(weights.resolve())]["sha256"] == hashlib.sha256(new).hexdigest()


@pytest.mark.parametrize("damage", [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe{", b'{"version": 1, "files": []}', b""])
def test_a_damaged_record_is_rebuilt_not_an_internal_error(tmp_path, monkeypatch, damage):
    """Found by benchmarks/fuzz_inputs.py: a record of brackets nested thousands deep raised RecursionError out of
    json.loads, and every command that hashed weights failed ("interp: internal error: RecursionError")."""
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    sha256_record.records_path().write_bytes(damage)
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    assert sha256_record.file_sha256(weights) == hashlib.sha256(b"weights").hexdigest()
    assert _records(tmp_path / "cache")[str(weights.resolve())]["sha256"] == hashlib.sha256(b"weights").hexdigest()


def test_a_remembered_digest_and_check_serve_this_version_of_the_file_alone(tmp_path, monkeypatch):
    """The second hash of an unchanged file is the remembered digest, the file not read again; a check passed (a
    checkpoint's keys) is known for this version of the file only: not for another check, not once the file changed,
    not for a file that is gone. `fresh=True` reads it again. Only the weights' tests saw these."""
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    read = []
    digest = hashlib.sha256(b"weights").hexdigest()
    assert sha256_record.file_sha256(weights, reading=lambda: read.append(1)) == digest and read == [1]
    assert sha256_record.file_sha256(weights, reading=lambda: read.append(2)) == digest and read == [1]
    assert sha256_record.file_sha256(weights, fresh=True, reading=lambda: read.append(3)) == digest and read == [1, 3]
    sha256_record.remember_check(weights, "keys")
    assert sha256_record.passed_check(weights, "keys") and not sha256_record.passed_check(weights, "shapes")
    weights.write_bytes(b"weights, retrained")
    assert not sha256_record.passed_check(weights, "keys")
    weights.unlink()
    assert not sha256_record.passed_check(weights, "keys")


def test_a_check_passed_by_a_replaced_file_never_lends_it_the_old_files_digest(tmp_path, monkeypatch):
    """A checkpoint hashed, then replaced (a retrained one copied over it), then checked before anything hashed it
    again (a load's "finite" check): the new entry is the new version's alone, with no digest, so the next hash
    reads the new bytes. Keeping the old entry and stamping it with the new version would have handed the new file
    the old one's sha256 and checks: a swapped checkpoint passing as the verified preset."""
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    sha256_record.file_sha256(weights)
    sha256_record.remember_check(weights, "keys")
    weights.write_bytes(b"other weights")
    sha256_record.remember_check(weights, "finite")
    assert sha256_record.remembered_sha256(weights) is None
    assert sha256_record.passed_check(weights, "finite") and not sha256_record.passed_check(weights, "keys")
    read = []
    assert sha256_record.file_sha256(weights, reading=lambda: read.append(1)) == hashlib.sha256(
        b"other weights").hexdigest() and read == [1]
    assert sha256_record.passed_check(weights, "finite")  # what this version passed stays known beside its digest


def test_an_update_that_finds_its_entry_changed_by_another_run_leaves_the_record_as_it_is(tmp_path, monkeypatch):
    """A remembered entry is marked used again (`_update`) only if another run did not replace it meanwhile; where
    it did, the change gives None and the record is left byte for byte as the other run wrote it."""
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    sha256_record.file_sha256(weights)
    before = sha256_record.records_path().read_bytes()
    seen = []
    sha256_record._update(weights, lambda now: seen.append(now))
    assert seen[0]["sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert sha256_record.records_path().read_bytes() == before
