"""interp_cli.files: the atomic write, stale-temp cleanup, cache dir, hashing and same-file check."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys

import pytest

from interp_cli import files
from interp_cli.errors import InterpError, UsageError


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with files.atomic_write(target) as fh:
            fh.write(b"half")
            assert len(os.listdir(tmp_path)) == 2  # the temp sits beside the target meanwhile
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == ["out.bin"] and target.read_bytes() == b"old"
    with files.atomic_write(target) as fh:
        fh.write(b"new")
    assert os.listdir(tmp_path) == ["out.bin"] and target.read_bytes() == b"new"


def test_atomic_write_cleans_up_on_keyboard_interrupt(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_write(tmp_path / "x.txt", "w") as fh:
            fh.write("x")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_temp_name_carries_the_pid_and_keeps_the_suffix(tmp_path):
    name = files.temp_name(tmp_path / "clip.mp4").name
    assert name.startswith(".clip.tmp-") and name.endswith(".mp4") and f"-{os.getpid()}-" in name


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_clean_stale_temps_removes_dead_runs_temps_and_nothing_else(tmp_path):
    dead = _dead_pid()
    stale_file = files.temp_name(tmp_path / "out.mp4").name.replace(f"-{os.getpid()}-", f"-{dead}-")
    stale_dir = files.temp_name(tmp_path / "frames").name.replace(f"-{os.getpid()}-", f"-{dead}-")
    live = files.temp_name(tmp_path / "other.gif").name  # ours: alive
    (tmp_path / stale_file).write_bytes(b"x")
    (tmp_path / stale_dir).mkdir()
    (tmp_path / stale_dir / "frame_0000.png").write_bytes(b"x")
    (tmp_path / live).write_bytes(b"x")
    keep = [".hidden", "out.tmp-123.mp4", ".out.tmp-zz-1-12345678.mp4", "photo.png", live]
    for name in keep[:-1]:
        (tmp_path / name).write_bytes(b"x")
    removed = files.clean_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted([stale_file, stale_dir])
    assert sorted(os.listdir(tmp_path)) == sorted(keep)


def test_clean_stale_temps_puts_back_frames_moved_aside(tmp_path):
    old = files.temp_name(tmp_path / "shots", "old").name.replace(f"-{os.getpid()}-", f"-{_dead_pid()}-")
    (tmp_path / old).mkdir()
    (tmp_path / old / "frame_0000.png").write_bytes(b"x")
    files.clean_stale_temps(tmp_path)
    assert os.listdir(tmp_path) == ["shots"] and os.listdir(tmp_path / "shots") == ["frame_0000.png"]


def test_environment_error_exit_codes():
    full = files.environment_error(OSError(errno.ENOSPC, "No space left on device"), "out.gif")
    assert type(full) is InterpError and full.exit_code == 1 and str(full).startswith("out.gif: ")
    big = files.environment_error(OSError(errno.EFBIG, "File too large"), "out.gif")
    assert big.exit_code == 1 and "file too large" in str(big)
    denied = files.environment_error(OSError(errno.EROFS, "Read-only file system"), "out.gif")
    assert isinstance(denied, UsageError) and denied.exit_code == 2


def test_cache_dir_expands_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("INTERP_CACHE_DIR", "~/c")
    assert files.cache_dir() == tmp_path / "c"


def test_sha256_of_and_same_file(tmp_path):
    a = tmp_path / "a.png"
    a.write_bytes(b"abc")
    assert files.sha256_of(a) == hashlib.sha256(b"abc").hexdigest()
    (tmp_path / "link.png").symlink_to(a)
    os.link(a, tmp_path / "hard.png")
    (tmp_path / "copy.png").write_bytes(b"abc")
    assert files.same_file(a, tmp_path / "link.png") and files.same_file(a, tmp_path / "hard.png")
    assert not files.same_file(a, tmp_path / "copy.png")
    assert not files.same_file(a, tmp_path / "missing.png")
