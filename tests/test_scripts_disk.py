"""What the development scripts (tools/, benchmarks/) leave in the temp folder when they are stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_check_wheel_stopped_by_sigterm_removes_its_venv(tmp_path):
    """`make test-wheel` (tools/check_wheel.py) works in a temp folder: a venv with torch (1 GB on PyPI's CPU
    index, 5 GB with CUDA's packages), the sdist and wheel. Killed by SIGTERM (a cancelled CI job), it left all of
    it. Stopped here while pip waits for an index that never answers, the venv made."""
    temp = tmp_path / "temp"
    temp.mkdir()
    with socket.socket() as index:
        index.bind(("127.0.0.1", 0))
        index.listen()
        index.settimeout(120)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
        env.update(TMPDIR=str(temp), HOME=str(tmp_path / "home"), PIP_NO_CACHE_DIR="1",
                   PIP_INDEX_URL=f"http://127.0.0.1:{index.getsockname()[1]}/simple")
        script = subprocess.Popen([sys.executable, str(ROOT / "tools" / "check_wheel.py")], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            asked, _ = index.accept()  # pip, in the new venv, upgrading itself: never answered
            with asked:
                assert list(temp.glob("interp-wheel-check-*/venv/bin/python"))
                script.send_signal(signal.SIGTERM)
                out, err = script.communicate(timeout=60)
        finally:
            script.kill()
            script.wait()
    assert script.returncode == 143, err
    assert err.splitlines()[-1] == "check_wheel: terminated; its temporary files were removed"
    assert sorted(p.name for p in temp.iterdir()) == []


def test_a_benchmark_stopped_by_sigterm_removes_its_temp_folder(tmp_path):
    """benchmarks/bench_latent_cache.py, as most of the benchmarks do, works in a temporary directory and runs
    `interp` in a child. Killed by SIGTERM (a cancelled job, `timeout`), it left the folder: its photos, the
    child's cache and outputs. Stopped here while the child's batch writes its rows."""
    temp = tmp_path / "temp"
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp), HF_HUB_OFFLINE="1")
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    # Files, not pipes: a child left running by a killed script would hold a pipe open. Its own session, so that
    # such a child is ended with it at the end.
    with out.open("w") as stdout, err.open("w") as stderr:
        script = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "bench_latent_cache.py"), "--rows",
                                   "400"], env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not list(temp.glob("bench_latent_cache.*/out/*.gif")):  # the batch has begun writing rows
            assert script.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the batch wrote no row in 240 s"
            time.sleep(0.05)
        script.send_signal(signal.SIGTERM)
        script.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(script.pid, signal.SIGKILL)
        script.wait()
    assert script.returncode == 143, err.read_text()
    # Its child batch, ended with it by a SIGTERM of its own (no longer killed unawares), may say so first.
    *child, last = err.read_text().splitlines()
    assert last == "bench_latent_cache: terminated; its temporary files were removed"
    assert set(child) <= {"interp: terminated"}
    assert sorted(p.name for p in temp.iterdir()) == []


def _descendants(pid: int) -> dict[int, str]:
    """The processes under `pid` now, by a scan of /proc: pid -> command line."""
    parents, lines = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
                lines[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    found, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = lines.get(child, "")
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie, which init has yet to reap, is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop_when(argv: list, env: dict, err: Path, ready) -> tuple[subprocess.Popen, dict[int, str]]:
    """Run a script (stderr to `err`), send it alone one SIGTERM once `ready(its process tree)` holds, and wait for
    it: (the script, the processes of its tree seen then that still run after its exit, all killed by then)."""
    with err.open("w") as stderr:
        script = subprocess.Popen([sys.executable, *map(str, argv)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=stderr, start_new_session=True)
    under = {}
    try:
        deadline = time.monotonic() + 60
        while not ready(under):
            assert script.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"not ready in 60 s: {under}"
            time.sleep(0.02)
            under = _descendants(script.pid)
        script.send_signal(signal.SIGTERM)
        script.wait(timeout=60)
        return script, {pid: line for pid, line in under.items() if _running(pid)}
    finally:
        for pid in under:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        script.kill()
        script.wait()


def test_check_wheel_stopped_while_its_venv_installs_pip_ends_that_first(tmp_path):
    """Stopped by a SIGTERM of its own (a CI job cancelled: the signal to the script, not to its group) during
    `python -m venv`, tools/check_wheel.py killed the venv command only. Its child, ensurepip, went on installing pip
    into the venv after the script had removed the folder and said so, and outlived the script. Now the script ends
    the child's whole group, waits for it, then removes the folder."""
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env.update(TMPDIR=str(temp), HOME=str(tmp_path / "home"), PIP_NO_CACHE_DIR="1")
    err = tmp_path / "err.txt"
    # ensurepip (the venv command's child) runs pip (its child), which has begun writing pip into the venv
    script, left = _stop_when([ROOT / "tools" / "check_wheel.py"], env, err, lambda under: (
        any("runpy" in line for line in under.values())
        and list(temp.glob("*/venv/lib/*/site-packages/pip/_internal"))))
    assert left == {}, f"still running after check_wheel exited: {left}"
    assert script.returncode == 143, err.read_text()
    assert err.read_text().splitlines()[-1] == "check_wheel: terminated; its temporary files were removed"
    assert sorted(p.name for p in temp.iterdir()) == []


def test_bench_temp_locks_stopped_ends_its_writers(tmp_path):
    """benchmarks/bench_temp_locks.py runs writers and sweepers for `--seconds`. Stopped by SIGTERM, it removed
    its folder and exited, and they went on writing into the removed folder until their time ran out. Now they
    end with it."""
    temp = tmp_path / "temp"
    temp.mkdir()
    err = tmp_path / "err.txt"
    # 2 writers and 2 sweepers (and a victim) running
    script, left = _stop_when([ROOT / "benchmarks" / "bench_temp_locks.py", "--writers", "2", "--seconds", "60"],
                              dict(os.environ, TMPDIR=str(temp)), err,
                              lambda under: sum(" -c " in line for line in under.values()) >= 4)
    assert left == {}, f"still running after bench_temp_locks exited: {left}"
    assert script.returncode == 143, err.read_text()
    assert err.read_text().splitlines() == ["bench_temp_locks: terminated; its temporary files were removed"]
    assert sorted(p.name for p in temp.iterdir()) == []



def test_bench_long_batch_stopped_ends_its_batch(tmp_path):
    """benchmarks/bench_long_batch.py follows an `interp batch` child started with Popen, which its stop never
    ended: stopped by SIGTERM, the script removed its folder, said so and exited with the batch still running (it
    ended only when its next JSON line met the closed pipe, 0.1 s later). Now the batch's whole group is ended
    first (a SIGTERM of its own) and waited for."""
    temp = tmp_path / "temp"
    temp.mkdir()
    err = tmp_path / "err.txt"
    # the batch has begun writing its rows
    script, left = _stop_when([ROOT / "benchmarks" / "bench_long_batch.py", "--rows", "200", "--steps", "2"],
                              dict(os.environ, TMPDIR=str(temp), HF_HUB_OFFLINE="1"), err,
                              lambda under: under and list(temp.glob("interp-long-*/out/*")))
    assert left == {}, f"still running after bench_long_batch exited: {left}"
    assert script.returncode == 143, err.read_text()
    assert err.read_text().splitlines() == ["bench_long_batch: terminated; its temporary files were removed"]
    assert sorted(p.name for p in temp.iterdir()) == []
