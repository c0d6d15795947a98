"""What a run of the suite leaves on the disk (tests/conftest.py)."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_the_suite_on(tests, tmpdir):
    env = dict(os.environ, TMPDIR=str(tmpdir))
    env.pop("INTERP_CACHE_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_a_run_removes_the_cache_dir_it_made(tmp_path):
    """Each run makes its own cache dir under the temp folder (85 MB once the landmark model is parsed into it);
    a run's leftovers add up where many runs go (benchmarks/mutants.py starts one per mutant)."""
    done = _run_the_suite_on(["tests/test_names.py", "-k", "utf8_text"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("interp-test-cache-")] == []


def _cache_dirs(tmpdir) -> list[str]:
    return sorted(p.name for p in Path(tmpdir).iterdir() if p.name.startswith("interp-test-cache-"))


def test_a_run_removes_what_a_killed_run_left_and_never_a_live_runs(tmp_path):
    """A run killed by a signal (CI's timeout, SIGKILL; benchmarks/mutants.py's runs ended by os._exit) runs no
    atexit callback: its cache dir stayed for good. The next run removes it; a live run's (here one stopped by
    SIGSTOP, as a suspended job is) stays."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("INTERP_CACHE_DIR", None)
    first = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_pipeline.py"],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _cache_dirs(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1)  # its cache dir made, and its owner file locked; it is still collecting (torch loads)
        first.send_signal(signal.SIGSTOP)
        (killed,) = _cache_dirs(tmp_path)
        done = _run_the_suite_on(["tests/test_names.py", "-k", "utf8_text"], tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert _cache_dirs(tmp_path) == [killed]  # a live run's
    finally:
        first.kill()
        first.wait()
    done = _run_the_suite_on(["tests/test_names.py", "-k", "utf8_text"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _cache_dirs(tmp_path) == []


@pytest.mark.parametrize("tests, needs", [
    (["tests/test_batch.py", "-k", "gnu_parallel_example_takes_any_path"], "parallel"),
    (["tests/test_images.py", "-k", "untagged_cmyk_jpeg_is_read_as_browsers"], "chromium"),
    (["tests/test_page.py", "-k", "firefox_opens_at_the_fragments_frame"], "firefox"),
    (["tests/test_train_demo.py", "-k", "killed_run_resumes"], None),  # a SIGKILLed run's work dir stayed in /tmp
])
def test_a_run_leaves_nothing_in_home_or_the_temp_folder_but_pytests_own(tests, needs, tmp_path):
    """Tests work in their tmp_path; GNU parallel, run by examples/parallel.sh's tests, wrote ~/.parallel/ into
    the user's home, Chromium and Firefox, run by the page and colour tests, ~/.config/chromium/, ~/.cache/dconf/
    and ~/.config/mozilla/, and a training run killed by its test left its work dir in the temp folder."""
    from tests.browser import chromium
    from tests.firefox import firefox

    found = {"chromium": chromium, "firefox": firefox}.get(needs, lambda: shutil.which(needs))
    if needs is not None and found() is None:
        pytest.skip(f"no {needs} here")
    # A short temp folder: Chromium's sockets there must fit a socket path's 108 bytes, which tmp_path's may not.
    home, temp = tmp_path / "home", Path(tempfile.mkdtemp(prefix="t-"))
    home.mkdir()
    try:
        env = dict(os.environ, TMPDIR=str(temp), HOME=str(home))
        for name in ("INTERP_CACHE_DIR", "PARALLEL_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
                     "TORCHINDUCTOR_CACHE_DIR"):
            env.pop(name, None)
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and " passed" in done.stdout, done.stdout + done.stderr
        assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []
        assert [p.name for p in temp.iterdir()] == ["pytest-of-" + getpass.getuser()]  # pytest's own
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def test_a_passing_run_leaves_no_file_in_the_temp_folder(tmp_path):
    """Every test's tmp_path stayed until the run ended, and pytest then kept the last 3 runs' base temps: the
    suite's temp folder grew to GB while it ran, and 3 runs' worth stayed after it (setup.cfg,
    tmp_path_retention_policy)."""
    done = _run_the_suite_on(["tests/test_names.py", "-k", "control_characters"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if not p.is_dir()] == []


@pytest.mark.skipif(shutil.which("make") is None, reason="no make here")
def test_make_clean_removes_what_make_test_lowest_made(tmp_path):
    """`make test-lowest` leaves .venv-lowest in the checkout (torch 2.1.0's CUDA build: 5.3 GB), and `make clean`
    removed .venv and out/ but kept it."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for made in (".venv", ".venv-lowest", "out", ".pytest_cache"):
        (tmp_path / made).mkdir()
        (tmp_path / made / "file").write_text("x")
    done = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Makefile"]


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("unshare") is None, reason="needs make and unshare")
def test_make_test_where_the_temp_folder_has_too_little_room_says_so_in_one_line_before_anything_runs(tmp_path):
    """A CI run on a disk with 1.9 GB free failed after minutes with errors far from the cause (679 fixture errors, a
    pytest INTERNALERROR). `make test` with its temp folder on a 16 MB disk (a tmpfs of a mount namespace of its own)
    now says so in one line, naming the folder and its free room, and runs nothing: not even the venv's making."""
    small = tmp_path / "small"
    small.mkdir()
    (tmp_path / "a-file").write_text("")
    venv = tmp_path / "a-file" / "venv"  # what `make install` would make first: it cannot, so it would fail at once
    env = {name: value for name, value in os.environ.items() if not name.startswith(("MAKE", "MFLAGS"))}
    env["TMPDIR"] = str(small)

    def make(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=16m tmpfs "$0" && exec "$@"',
                               str(small), "make", *args, f"VENV={venv}"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    refused = make("test")
    if "mount" in refused.stderr.split(":")[0] or "unshare" in refused.stderr.split(":")[0]:
        pytest.skip(f"no mount namespace here: {refused.stderr.strip()}")
    said = refused.stderr.splitlines()
    assert refused.returncode != 0 and said[0].startswith(f"make test: the temp folder {small} has 16.8 MB free, "
                                                          "and the suite needs about "), refused.stderr
    assert said[0].endswith("(`make test SUITE_ROOM_GB=0` skips this check)") and len(said) == 2, refused.stderr
    assert said[1].startswith("make: *** [Makefile:") and said[1].endswith(" room-test] Error 1")  # make's own
    assert refused.stdout == "" and (tmp_path / "a-file").read_text() == ""
    assert make("room-test", "SUITE_ROOM_GB=0.01").returncode == 0  # room enough: silent, and on to the suite


def test_a_child_forked_from_the_session_that_exits_normally_leaves_the_cache_dir(tmp_path):
    """A child forked from the session runs the session's atexit callbacks when it exits normally (`sys.exit` in a
    forked worker): only the session's own process removes the cache dir, or the tests after it found theirs gone."""
    from tests import conftest  # the module pytest loaded (tests/ is a package): its callback, not a copy

    cache = os.environ["INTERP_CACHE_DIR"]
    marker = Path(cache) / "still-here"
    marker.write_text("")
    try:
        child = os.fork()
        if child == 0:  # pragma: no cover - the child
            try:  # the callback its normal exit runs (not every one: locks held by the session's threads)
                conftest._remove_the_sessions_cache()
            finally:
                os._exit(0)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert marker.exists()
    finally:
        marker.unlink(missing_ok=True)
