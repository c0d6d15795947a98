"""Faults injected for real, in real `interp` processes: full disks, damaged caches, kills, races, no network.

Every run uses the shipped demo model offline, with its own cache dir, and checks what a user would
see: the exit code, one line on stderr, the output (or the older output it must not clobber), and
that no temp litter is left. Runs that do not depend on each other are started together, since each
one spends most of its time importing torch.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from interp_cli import cli
from interp_cli.cache_folders import USAGE_RECORD

ROOT = Path(__file__).resolve().parent.parent
PHOTO_A = ROOT / "examples" / "demo_a.png"
PHOTO_B = ROOT / "examples" / "demo_b.png"
FFHQ_PATH = "AIRI-Institute/HairFastGAN/resolve/main/pretrained_models/encoder4editing/e4e_ffhq_encode.pt"
MORPH = ["--weights", "demo", "--steps", "2", "--device", "cpu"]

pytestmark = pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs POSIX resource limits")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERP_", "HF_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), INTERP_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")  # many children share 2 cores
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def _start(args, *, cwd: Path, env: dict, fsize: int | None = None, **popen) -> subprocess.Popen:
    """`python -m interp_cli ARGS` in a child; `fsize` limits every file it writes (SIGXFSZ ignored, so
    a write past the limit fails with EFBIG, as on a full disk)."""

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    preexec = popen.pop("preexec_fn", None)
    return subprocess.Popen([sys.executable, "-m", "interp_cli", *map(str, args)], cwd=cwd, env=env, text=True,
                            preexec_fn=limit_file_size if fsize else preexec, **popen)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out or "", err or ""


def _run(args, **kw) -> tuple[int, str, str]:
    return _finish(_start(args, **kw))


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert "Traceback" not in stderr and "internal error" not in stderr and "interrupted" not in stderr
    return lines[0]


def _frames(directory: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p)) for p in sorted(directory.glob("frame_*.png"))])


# --- the independent runs, started together ---------------------------------------------------------

# (the command, the output, the older output already there) for each kind of output
KINDS = {
    "mp4": (["morph", PHOTO_A, PHOTO_B, *MORPH, "--size", "256", "-o", "out.mp4"], "out.mp4",
            {"out.mp4": b"older video"}),
    "gif": (["morph", PHOTO_A, PHOTO_B, *MORPH, "-o", "out.gif"], "out.gif", {"out.gif": b"older gif"}),
    "frames": (["morph", PHOTO_A, PHOTO_B, *MORPH, "-o", "shots/"], "shots/",
               {"shots/frame_0000.png": b"older frame"}),
    "sheet": (["morph", PHOTO_A, PHOTO_B, *MORPH, "-o", "sheet.png"], "sheet.png", {"sheet.png": b"older sheet"}),
    "npy": (["encode", PHOTO_A, "--weights", "demo", "--device", "cpu", "-o", "a.npy"], "a.npy",
            {"a.npy": b"older code"}),
}
DAMAGED_INPUTS = [PHOTO_A, PHOTO_B, "c.png"]


class _Runs:
    """Child runs by name, each in its own folder under `root`; results are collected on demand."""

    def __init__(self, root: Path):
        self.root = root
        self.procs: dict[str, subprocess.Popen] = {}
        self.results: dict[str, tuple[int, str, str]] = {}

    def folder(self, name: str) -> Path:
        return self.root / name.split("#")[0]

    def start(self, name: str, args, **kw) -> None:
        where = self.folder(name)
        where.mkdir(exist_ok=True)
        kw.setdefault("env", _env(where))
        self.procs[name] = _start(args, cwd=where, **kw)

    def result(self, name: str) -> tuple[int, str, str]:
        if name not in self.results:
            self.results[name] = _finish(self.procs[name])
        return self.results[name]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every run that needs no earlier one, started at once: each spends seconds importing torch."""
    runs = _Runs(tmp_path_factory.mktemp("faults"))
    for kind, (args, _, older) in KINDS.items():  # a full disk, simulated by a 2 kB file-size limit
        for name, data in older.items():
            (runs.folder(f"full-{kind}") / name).parent.mkdir(parents=True, exist_ok=True)
            (runs.folder(f"full-{kind}") / name).write_bytes(data)
        runs.start(f"full-{kind}", [*args, "--quiet"], fsize=2048)
    # A 16 px two-frame GIF fits in 4 kB; a latent-cache entry of the demo model (10 x 128 float32) does not.
    runs.start("full-cache", [PHOTO_A, PHOTO_B, *MORPH, "--size", "16", "-o", "out.gif"], fsize=4096)
    for writer in ("concurrent#1", "concurrent#2"):  # one output, one cache dir
        runs.start(writer, [PHOTO_A, PHOTO_B, *MORPH, "-o", "out.gif", "-q"])
    damaged = runs.folder("damaged")
    damaged.mkdir()
    Image.open(PHOTO_A).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(damaged / "c.png")
    runs.start("damaged#fill", [*DAMAGED_INPUTS, *MORPH, "-o", "first/", "-q"])
    runs.start("damaged#reference", [*DAMAGED_INPUTS, *MORPH, "-o", "reference/", "-q", "--no-cache"])
    runs.folder("empty-npy").mkdir()
    (runs.folder("empty-npy") / "empty.npy").write_bytes(b"")
    runs.start("empty-npy", [PHOTO_A, "empty.npy", *MORPH, "-o", "out.gif"])
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before we write a byte
    runs.start("closed-stdout", [PHOTO_A, PHOTO_B, *MORPH, "-o", "out.gif", "--json"], stdout=write_end)
    os.close(write_end)
    yield runs
    runs.stop()


# --- full disk ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_full_disk_is_one_line_and_keeps_the_older_output(runs, kind):
    code, _, err = runs.result(f"full-{kind}")
    where, (_, output, older) = runs.folder(f"full-{kind}"), KINDS[kind]
    assert code == 1, err
    line = _one_line(err)
    assert line.startswith(f"interp: error: {output}: cannot write: file too large"), line
    # the older output is unchanged, and nothing else (no partial file, no temp) is left anywhere
    left = sorted(p.relative_to(where).as_posix() for p in where.rglob("*")
                  if p.is_file() and p.relative_to(where).parts[0] != "cache")
    assert left == sorted(older)
    assert [p.name for p in where.rglob(".*")] == []
    for name, data in older.items():
        assert (where / name).read_bytes() == data


def test_full_cache_warns_once_and_the_morph_goes_on(runs):
    code, _, err = runs.result("full-cache")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "latent cache not written" in line]
    assert len(warnings) == 1, err
    where = runs.folder("full-cache")
    assert Image.open(where / "out.gif").n_frames == 2
    assert [p.name for p in (where / "cache" / "latents").iterdir()] == []


# --- damaged cache entries ----------------------------------------------------------------------------


def test_damaged_cache_entries_are_recomputed_and_give_the_no_cache_frames(runs):
    assert runs.result("damaged#fill")[0] == 0 and runs.result("damaged#reference")[0] == 0
    where = runs.folder("damaged")
    entries = sorted((where / "cache" / "latents").glob("*.npy"))
    assert len(entries) == 3
    good = np.load(entries[0])
    entries[0].write_bytes(b"")  # empty: np.load raises EOFError, which Click once reported as Ctrl-C
    entries[1].write_bytes(entries[1].read_bytes()[:100])  # truncated
    np.save(entries[2], np.full_like(good, np.nan))  # readable, right shape, garbage

    code, _, err = _run([*DAMAGED_INPUTS, *MORPH, "-o", "again/", "--debug"], cwd=where, env=_env(where))
    assert code == 0, err
    assert err.count("interp: debug: latent cache entry") == 3, err
    np.testing.assert_array_equal(_frames(where / "again"), _frames(where / "reference"))
    for entry in entries:  # recomputed and stored again, and valid
        code_array = np.load(entry)
        assert code_array.shape == good.shape and np.isfinite(code_array).all()
    assert sorted(p.name for p in (where / "cache" / "latents").iterdir()) == [USAGE_RECORD, *(e.name for e in entries)]


def test_empty_npy_input_is_a_usage_error_not_an_interrupt(runs):
    code, _, err = runs.result("empty-npy")
    assert code == 2
    assert "empty.npy" in _one_line(err) and not (runs.folder("empty-npy") / "out.gif").exists()


# --- kills and races ----------------------------------------------------------------------------


def test_two_concurrent_writers_of_one_output_sharing_a_cache_both_succeed(runs):
    for writer in ("concurrent#1", "concurrent#2"):
        code, _, err = runs.result(writer)
        assert code == 0, err
    where = runs.folder("concurrent")
    assert sorted(os.listdir(where)) == ["cache", "out.gif"]
    assert Image.open(where / "out.gif").n_frames == 2
    latents = sorted(p.name for p in (where / "cache" / "latents").iterdir())
    assert len(latents) == 3 and latents[0] == USAGE_RECORD and all(not n.startswith(".") for n in latents[1:])


def _size(path: Path) -> int:
    """A file's size, 0 where it is gone: a temp seen by glob may be renamed or removed before its stat (once, in a
    fresh-clone `make test-lowest` here, the test failed in that stat and said nothing of what the run had done)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_sigkill_mid_write_keeps_the_old_output_and_the_next_run_clears_the_litter(tmp_path):
    (tmp_path / "out.mp4").write_bytes(b"older video")
    env = _env(tmp_path)
    proc = _start([PHOTO_A, PHOTO_B, "--weights", "demo", "--steps", "3000", "--size", "256", "-o", "out.mp4", "-q"],
                  cwd=tmp_path, env=env)
    deadline = time.monotonic() + 180
    temps: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        temps = [p for p in tmp_path.glob(".out.tmp-*.mp4") if _size(p) > 0]
        if temps:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    # The run's own exit, where it ended before it was killed (its stderr says why), fails here, not in a stat.
    assert temps, f"the run never started writing (exit {proc.returncode}): {err}"
    assert (tmp_path / "out.mp4").read_bytes() == b"older video"
    assert list(tmp_path.glob(".out.tmp-*")), "SIGKILL should have left the temp (the litter to clean)"

    code, _, err = _run([PHOTO_A, PHOTO_B, *MORPH, "-o", "other.gif", "-q"], cwd=tmp_path, env=env)
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == ["cache", "other.gif", "out.mp4"]
    assert (tmp_path / "out.mp4").read_bytes() == b"older video"


# --- the hub ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_hub_fails_with_one_line(tmp_path):
    env = _env(tmp_path, HF_HUB_OFFLINE=None, HF_ENDPOINT=f"http://127.0.0.1:{_free_port()}")  # nobody listens
    code, _, err = _run([PHOTO_A, PHOTO_B, "--weights", "ffhq", "-o", "out.mp4"], cwd=tmp_path, env=env)
    assert code == 1
    line = _one_line(err)  # no "Retrying in 1s [Retry 1/5]" chatter
    assert "could not be reached" in line and "ffhq weights unavailable" in line
    assert not (tmp_path / "out.mp4").exists()


def test_a_failing_hub_is_asked_once_not_retried(tmp_path):
    """What makes the failure fast, counted rather than timed: huggingface_hub's own retries would
    ask for the file six times over 23 s of back-off; interp asks once and gives up. (Recent
    huggingface_hub versions also make one request of their own, for an agent registry: not counted.)"""
    requests = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        server.settimeout(0.2)
        stop = threading.Event()

        def hang_up():  # accept and close at once: a hub that drops every connection
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except OSError:
                    continue
                conn.settimeout(5)
                try:
                    requests.append(conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1"))
                except OSError:
                    requests.append("")
                conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        env = _env(tmp_path, HF_HUB_OFFLINE=None, HF_ENDPOINT=f"http://127.0.0.1:{server.getsockname()[1]}")
        code, _, err = _run([PHOTO_A, PHOTO_B, "--weights", "ffhq", "-o", "out.mp4"], cwd=tmp_path, env=env)
        stop.set()
        thread.join()
    assert code == 1 and "could not be reached" in _one_line(err), err
    asked = [line for line in requests if "/resolve/" in line]
    assert len(asked) == 1, f"the file was asked for {len(asked)} times: {requests}"
    assert asked[0].startswith("HEAD /AIRI-Institute/HairFastGAN/resolve/"), requests
    assert not (tmp_path / "out.mp4").exists()


class _FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers the ffhq file's metadata with a different sha256; records every request."""

    advertised = "ab" * 32
    requests: list[tuple[str, str]] = []

    def _headers(self):
        self.send_response(200)
        self.send_header("X-Repo-Commit", "0" * 40)
        self.send_header("ETag", f'"{self.advertised}"')
        self.send_header("X-Linked-Etag", f'"{self.advertised}"')
        self.send_header("X-Linked-Size", "1201649680")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        self.requests.append(("HEAD", self.path))
        self._headers()

    def do_GET(self):
        self.requests.append(("GET", self.path))
        self._headers()

    def log_message(self, *args):
        pass


def test_hub_file_with_another_sha256_is_refused_before_downloading(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _FakeHub.requests = []
    try:
        env = _env(tmp_path, HF_HUB_OFFLINE=None, HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}")
        code, _, err = _run(["weights", "download", "ffhq"], cwd=tmp_path, env=env)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    line = _one_line(err)
    assert "ab" * 32 in line and "2ace1d9a8c05c10a399bcd500b8dda118f759ff1aac89dbdab7435f2136a0999" in line
    # one metadata request for the file, and the file itself never fetched
    assert [method for method, path in _FakeHub.requests if path == f"/{FFHQ_PATH}"] == ["HEAD"]


# --- hostile inputs and outputs -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo.png", "fifo.npy", "directory", "device"])
def test_inputs_that_are_not_regular_files_exit_2_at_once(tmp_path, kind):
    if kind.startswith("fifo"):
        os.mkfifo(tmp_path / kind)  # nobody ever writes to it: opening it would hang
        path = kind
    elif kind == "directory":
        (tmp_path / "photos").mkdir()
        path = "photos"
    else:
        path = os.devnull
    code, _, err = _finish(_start([PHOTO_A, path, *MORPH, "-o", "out.gif"], cwd=tmp_path, env=_env(tmp_path)),
                           timeout=60)
    assert code == 2
    assert _one_line(err).startswith(f"interp: error: {path}: ")
    assert sorted(os.listdir(tmp_path)) == sorted([p for p in ("fifo.png", "fifo.npy", "photos") if
                                                   (tmp_path / p).exists()])


@pytest.mark.parametrize("how", ["same path", "symlink", "hard link", "sheet", "folder holding it"])
def test_output_that_is_an_input_is_refused_and_the_photo_untouched(tmp_path, how):
    photo = tmp_path / "a.png"
    shutil.copy(PHOTO_A, photo)
    before = hashlib.sha256(photo.read_bytes()).hexdigest()
    output = {"same path": ["-o", "a.png"], "symlink": ["-o", "link.png"], "hard link": ["-o", "hard.png"],
              "sheet": ["-o", "out.gif", "--sheet", "a.png"], "folder holding it": ["-o", "."]}[how]
    (tmp_path / "link.png").symlink_to("a.png")
    os.link(photo, tmp_path / "hard.png")
    code, _, err = _run(["a.png", PHOTO_B, *MORPH, *output], cwd=tmp_path, env=_env(tmp_path))
    assert code == 2
    assert "input" in _one_line(err)
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == before
    assert sorted(os.listdir(tmp_path)) == ["a.png", "hard.png", "link.png"]


# --- a closed stdout ------------------------------------------------------------------------------


def test_closed_stdout_is_quiet(runs):
    code, _, err = runs.result("closed-stdout")
    assert err == "" and code == 141  # 141: like any tool whose reader left (SIGPIPE)
    assert Image.open(runs.folder("closed-stdout") / "out.gif").n_frames == 2  # the output itself was written


def test_json_piped_into_head_is_quiet(tmp_path):
    command = f"{sys.executable} -m interp_cli {PHOTO_A} {PHOTO_B} {' '.join(MORPH)} -o out.gif --json | head -c1"
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True,
                          timeout=240)
    assert done.stdout == "{" and done.stderr == ""


# --- standard streams closed or full from the start ---------------------------------------------------


def _closing(*fds: int):
    """A preexec_fn closing `fds` in the child, as `>&-` / `2>&-` do (no shell: a wrapper could keep them open)."""
    return lambda: [os.close(fd) for fd in fds]


def test_closed_or_full_stderr_and_closed_stdout_never_abort_the_work(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    full = open("/dev/full", "w")
    cases = {  # name: (args, Popen arguments, exit code, output written)
        "json-stdout-closed": (["--json", "-o", "out.gif"], dict(preexec_fn=_closing(1)), 141, True),
        "stdout-closed": (["-o", "out.gif"], dict(preexec_fn=_closing(1)), 0, True),
        "stderr-closed": (["-o", "out.mp4"], dict(preexec_fn=_closing(2)), 0, True),  # ffmpeg too
        "stderr-full": (["-o", "out.gif"], dict(stderr=full), 0, True),
        "all-closed-json": (["--json", "-o", "out.gif"], dict(preexec_fn=_closing(0, 1, 2)), 141, True),
        "bad-input-stderr-full": (["--size", "7", "-o", "out.gif"], dict(stderr=full), 2, False),
    }
    procs = {}
    for name, (args, popen, _, _) in cases.items():
        (tmp_path / name).mkdir()
        procs[name] = _start([PHOTO_A, PHOTO_B, *MORPH, *args], cwd=tmp_path / name, env=_env(tmp_path / name),
                             **popen)
    for name, (args, _, expected, written) in cases.items():
        code, out, err = _finish(procs[name])
        assert code == expected, (name, out, err)
        assert "Traceback" not in out + err
        output = tmp_path / name / args[-1]
        if written:
            assert len(list(iio.imiter(output))) == 2, name
        else:
            assert not output.exists(), name
        assert [p.name for p in (tmp_path / name).glob(".*")] == [], name  # no temp left
    full.close()


ASCII_STREAMS = {"PYTHONIOENCODING=ascii": dict(PYTHONIOENCODING="ascii"),
                 "C locale, not coerced": dict(LC_ALL="C", LANG="C", PYTHONCOERCECLOCALE="0", PYTHONUTF8="0")}


@pytest.mark.parametrize("streams", list(ASCII_STREAMS))
def test_an_ascii_stderr_full_or_not_never_fails_the_work_and_shows_names_as_typed(tmp_path, streams):
    """click takes an ASCII stderr for a misconfigured one and wrote to its buffer itself, past interp's stream that
    cannot fail: a full stderr ended a finished morph with exit 1 (a usage error too, instead of 2), and an input
    name's byte that is not UTF-8 was shown as "?", which no shell takes back. Under the uncoerced C locale, click
    8.0 (the floor once) refused to run at all ("internal error: RuntimeError: Click will abort ..."): the floor is
    8.1, which runs there, and this is no longer skipped below it."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    env = _env(tmp_path, **ASCII_STREAMS[streams])
    with open("/dev/full", "w") as full:
        morph = _start([PHOTO_A, PHOTO_B, *MORPH, "-o", "out.gif"], cwd=tmp_path, env=env, stderr=full)
        refused = _start([PHOTO_A, PHOTO_B, *MORPH, "--size", "7", "-o", "no.gif"], cwd=tmp_path, env=env,
                         stderr=full)
        assert _finish(refused)[0] == 2
        assert _finish(morph)[0] == 0
    assert len(list(iio.imiter(tmp_path / "out.gif"))) == 2
    missing = subprocess.run([sys.executable, "-m", "interp_cli", os.fsencode(PHOTO_A), b"gone\xff.png", *MORPH,
                              "-o", "x.gif"], cwd=tmp_path, env=env, capture_output=True, timeout=240)
    assert missing.returncode == 2
    assert missing.stderr.decode("ascii").strip() == "interp: error: gone\\xff.png: no such file"


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["morph", "--help"]])
def test_help_and_version_into_a_closed_stdout_exit_141_like_json(tmp_path, args):
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head -c0`
    piped = _start(args, cwd=tmp_path, env=_env(tmp_path), stdout=write_end)
    os.close(write_end)
    closed = _start(args, cwd=tmp_path, env=_env(tmp_path), preexec_fn=_closing(1))  # `>&-`
    for proc in (piped, closed):
        code, _, err = _finish(proc)
        assert (code, err) == (141, "")


# --- Ctrl-C while starting up ------------------------------------------------------------------------


def test_ctrl_c_that_passed_through_an_exec_still_exits_130(tmp_path):
    # Under `python -m`, a KeyboardInterrupt that once left an exec() of a string (dataclasses, all through
    # torch's import) makes CPython's own exit kill the process with SIGINT, though interp caught it:
    # the exit code must be interp's all the same. The interrupt is injected where the first input is checked.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import interp_cli.files as files\n"
        "def check_input_file(*args, **kwargs):\n"
        "    exec('raise KeyboardInterrupt')\n"
        "files.check_input_file = check_input_file\n")
    env = _env(tmp_path, PYTHONPATH=os.pathsep.join([str(hook), str(ROOT)]))
    code, _, err = _run([PHOTO_A, PHOTO_B, *MORPH, "-o", "out.gif"], cwd=tmp_path, env=env)
    assert (code, err.strip()) == (130, "interp: interrupted")


def _torch_mapped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as maps:
            return "libtorch" in maps.read()
    except OSError:
        return False


def _stops_held(pid: int) -> bool:
    """Whether interp's entry point has taken SIGTERM (`stops_at_start.hold_stops_at_start`, its first line):
    Python's own start-up before it (`site`, the .pth files), where no code of interp's runs yet, is over."""
    try:
        with open(f"/proc/{pid}/status") as status:
            caught = next(line for line in status if line.startswith("SigCgt:")).split()[1]
    except (OSError, StopIteration):
        return False
    return bool(int(caught, 16) >> (signal.SIGTERM - 1) & 1)


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/maps"), reason="needs /proc to see torch load")
def test_ctrl_c_at_any_moment_of_startup_exits_130(tmp_path):
    # Real SIGINTs at several moments: before torch, as its libraries load, inside its Python-level import
    # (where a few in a hundred used to end in SIGINT, SIGABRT or a swallowed interrupt: exit 0), and after.
    # Each moment is counted from one the child reached: its entry point's first line, or torch's libraries
    # mapped. Counted from the start of the process, 0.3 s fell inside Python's own start-up on a loaded machine
    # (a Fatal Python error in `site`, exit 1, before any of interp's code), as it does here every time with
    # `site` made slower by a sitecustomize that sleeps.
    slow_site = tmp_path / "slow-site"
    slow_site.mkdir()
    (slow_site / "sitecustomize.py").write_text("import time\ntime.sleep(0.5)\n")
    delays = [("start", 0.3)] + [("torch", d) for d in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)]
    for index, (after, delay) in enumerate(delays):
        where = tmp_path / str(index)
        where.mkdir()
        slow = {"PYTHONPATH": os.pathsep.join([str(slow_site), str(ROOT)])} if after == "start" else {}
        env = _env(where, **slow)
        # SIGTERM at its default, as a shell starts commands: one this process left ignored stays so in interp,
        # and `_stops_held` would never see it taken.
        # 1000 steps: the last moment (1 s after torch's libraries) is still inside the morph on an idle machine,
        # where a 30-step one had already ended (exit 0: the signal came after the work, not during it).
        proc = _start([PHOTO_A, PHOTO_B, "--weights", "demo", "--steps", "1000", "-o", "out.gif"], cwd=where,
                      env=env, preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
        deadline = time.monotonic() + 60
        reached = _stops_held if after == "start" else _torch_mapped
        while not reached(proc.pid) and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        code, _, err = _finish(proc)
        assert (code, err.strip().splitlines()[-1:]) == (130, ["interp: interrupted"]), (after, delay, err)
        assert "Traceback" not in err and os.listdir(where) in (["cache"], []), (after, delay)


# --- errors that are not bugs, in process ---------------------------------------------------------------


def _main_exit(monkeypatch, capsys, error: BaseException) -> tuple[int, str]:
    from interp_cli import pipeline

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(pipeline, "morph", fail)
    with pytest.raises(SystemExit) as done:
        cli.main([str(PHOTO_A), str(PHOTO_B), "-o", "x.gif"])
    return done.value.code, capsys.readouterr().err


def test_eof_error_is_never_reported_as_an_interrupt(monkeypatch, capsys):
    code, err = _main_exit(monkeypatch, capsys, EOFError("No data left in file"))
    assert code == 1 and "interrupted" not in err and "EOFError" in err


def test_a_bug_is_one_line_that_says_how_to_see_its_traceback_and_with_debug_shows_it(monkeypatch, capsys):
    """A failure that is interp's own bug is not told as the user's error: "interp: internal error: ...", exit 1,
    with the way to report it (`--debug` gives the traceback); under --debug the traceback comes and the hint goes."""
    code, err = _main_exit(monkeypatch, capsys, KeyError("k"))
    assert (code, err) == (1, "interp: internal error: KeyError: 'k' (rerun with --debug for a traceback)\n")
    with pytest.raises(SystemExit) as done:
        cli.main([str(PHOTO_A), str(PHOTO_B), "-o", "x.gif", "--debug"])
    err = capsys.readouterr().err
    assert done.value.code == 1 and "Traceback (most recent call last)" in err
    assert err.splitlines()[-1] == "interp: internal error: KeyError: 'k'"


@pytest.mark.parametrize(("errno_name", "exit_code"), [("ENOSPC", 1), ("EDQUOT", 1), ("EFBIG", 1), ("EROFS", 2),
                                                        ("EACCES", 2)])
def test_machine_errors_are_one_line_not_internal_errors(monkeypatch, capsys, errno_name, exit_code):
    import errno

    number = getattr(errno, errno_name)
    code, err = _main_exit(monkeypatch, capsys, OSError(number, os.strerror(number), "somewhere/out.gif"))
    assert code == exit_code
    assert _one_line(err).startswith("interp: error: somewhere/out.gif: ")
