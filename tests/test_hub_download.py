"""Weights downloads from a real HTTP hub: huggingface_hub's own requests, locks, temporary files and retries.

tests/test_weights.py replaces huggingface_hub's functions; here nothing is replaced. tests/hub_server.py
serves the hub's endpoints on 127.0.0.1 (HF_ENDPOINT points there, nothing leaves the machine) and
misbehaves the ways a hub or a network does. Every `interp` is a process of its own, as a user's or a
cluster job's is, with a fresh HF_HOME: what it leaves in the cache is what the next run finds.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import pty
import random
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from interp_cli import hub_download
from interp_cli.progress import human_size
from tests.hub_server import Fault, LocalHub

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEMO = ROOT / "interp_cli" / "data" / "demo.pt"
PAYLOAD = random.Random(0).randbytes(3_000_000)  # larger than one read of huggingface_hub's (1 or 10 MB)
SLOW_PAYLOAD = random.Random(1).randbytes(1_000_000)
LATE_PAYLOAD = random.Random(2).randbytes(10_000)
REPO = "someone/tiny"
BIG = 70_000_000  # over the 64 MiB from which a download and a verification say so on stderr


def _preset(name: str, filename: str, payload_sha256: str, size: int) -> dict:
    return dict(name=name, repo_id=REPO, filename=filename, revision=None, sha256=payload_sha256, size=size,
                license="test-only", description="served by tests/hub_server.py")


@pytest.fixture
def hub():
    served = LocalHub()
    served.put(REPO, "ckpt/tiny.pt", PAYLOAD)
    served.put(REPO, "ckpt/slow.pt", SLOW_PAYLOAD)
    yield served
    served.close()


@pytest.fixture
def env(hub, tmp_path):
    """The environment of an `interp` that downloads from `hub` into tmp_path/hf, with presets `tiny`, `slow`,
    `late` and `demohub` (the shipped demo model's file, put on the hub)."""
    demo = json.loads(DEMO.with_suffix(".json").read_text())
    hub.put(REPO, "demo.pt", DEMO.read_bytes())
    presets = [
        _preset("tiny", "ckpt/tiny.pt", hub.put(REPO, "ckpt/tiny.pt", PAYLOAD), len(PAYLOAD)),
        _preset("slow", "ckpt/slow.pt", hub.put(REPO, "ckpt/slow.pt", SLOW_PAYLOAD), len(SLOW_PAYLOAD)),
        _preset("late", "ckpt/late.pt", hub.put(REPO, "ckpt/late.pt", LATE_PAYLOAD), len(LATE_PAYLOAD)),
        _preset("demohub", "demo.pt", demo["sha256"], demo["size"]),
    ]
    variables = dict(os.environ, PYTHONPATH=str(ROOT), HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / "hf"),
                     INTERP_CACHE_DIR=str(tmp_path / "interp-cache"), INTERP_TEST_PRESETS=json.dumps(presets))
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
                 "INTERP_WEIGHTS", "HF_HUB_DISABLE_PROGRESS_BARS", "HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_ETAG_TIMEOUT"):
        variables.pop(name, None)
    return variables


def _command(*args) -> list[str]:
    # `python -m tests.hub_server` is `interp` with the test presets added (a preset is code).
    return [sys.executable, "-m", "tests.hub_server", *map(str, args)]


def interp(env: dict, *args, **variables) -> subprocess.CompletedProcess:
    return subprocess.run(_command(*args), cwd=ROOT, env={**env, **variables}, capture_output=True, text=True,
                          timeout=120)


def start(env: dict, *args, **variables) -> subprocess.Popen:
    return subprocess.Popen(_command(*args), cwd=ROOT, env={**env, **variables}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def error_line(done) -> str:
    """The one line a failure prints (and nothing else on stderr), exit 1."""
    returncode, stderr = (done.returncode, done.stderr) if isinstance(done, subprocess.CompletedProcess) else done
    line, = stderr.strip().splitlines()
    assert returncode == 1 and line.startswith("interp: error: "), stderr
    return line


def suggestion(line: str) -> tuple[list[str], dict[str, str]]:
    """The `[VAR=value ...] interp ...` command a message suggests: interp's arguments, and the variables set."""
    words = shlex.split(re.search(r"`((?:\w+=\S+ )*interp [^`]*)`", line).group(1))
    variables = {}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        variables[name] = value
    assert words[0] == "interp"
    return words[1:], variables


def follow(env: dict, line: str, **variables) -> subprocess.CompletedProcess:
    """Run the command that a message suggests, as a shell would."""
    args, suggested = suggestion(line)
    return interp(env, *args, **{**variables, **suggested})


def at_once(env: dict, *runs: tuple) -> list[tuple[int, str, str]]:
    """Several `interp`s started together, each `(args, variables)`: (exit code, stdout, stderr) of each."""
    procs = [start(env, *args, **variables) for args, variables in runs]
    return [(proc.wait(timeout=120), *proc.communicate()) for proc in procs]


def cache_state(env: dict) -> dict[str, list[str]]:
    """What the HF cache holds: complete blobs, partial downloads, and any other file (leftovers)."""
    cache = Path(env["HF_HOME"]) / "hub"
    found = {"blobs": [], "partial": [], "other": []}
    for path in sorted(cache.rglob("*")) if cache.is_dir() else []:
        relative = path.relative_to(cache).as_posix()
        if path.is_dir() or relative.startswith(".locks/") or relative == "CACHEDIR.TAG" or "/refs/" in relative:
            continue
        if path.name.endswith(".incomplete"):
            found["partial"].append(relative)
        elif "/blobs/" in relative:
            found["blobs"].append(path.name)
        elif "/snapshots/" not in relative:
            found["other"].append(relative)
    return found


def cached(env: dict, filename: str) -> Path | None:
    """Where interp finds a hub file in the HF cache without the network (huggingface_hub's own lookup)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(REPO, filename, cache_dir=Path(env["HF_HOME"]) / "hub")
    return Path(found) if isinstance(found, str) else None


def assert_nothing_posing_as_done(env: dict, filename: str = "ckpt/tiny.pt") -> None:
    """No complete-looking file in the cache: a later run finds nothing there, and no stray file lies about."""
    state = cache_state(env)
    assert state["blobs"] == [] and state["other"] == [], state
    assert cached(env, filename) is None


def assert_downloaded(env: dict, hub: LocalHub, gets: int | None = None) -> None:
    """`tiny` is in the cache, complete, where an offline run finds it; no partial download is left."""
    assert cached(env, "ckpt/tiny.pt").read_bytes() == PAYLOAD
    state = cache_state(env)
    assert [path for path in state["partial"] if _sha256(PAYLOAD) in path] == [] and state["other"] == [], state
    if gets is not None:
        assert hub.gets == gets


# --------------------------------------------------------------------------------------------------
# A download that works


def test_download_fetches_once_says_nothing_off_a_terminal_and_works_offline_after(hub, env):
    done = interp(env, "weights", "download", "tiny")
    assert done.returncode == 0, done.stderr
    # A pipe or a log gets no bar (huggingface_hub 0.20 drew its tqdm bar there, in carriage returns).
    assert done.stderr == ""
    sha256 = _sha256(PAYLOAD)
    path = Path(re.fullmatch(rf"tiny: (.*) \(sha256 {sha256}\)\n", done.stdout).group(1))
    assert path.read_bytes() == PAYLOAD
    assert hub.gets == 1
    seen = len(hub.requests)
    again = interp(env, "weights", "download", "tiny")
    assert again.returncode == 0 and again.stdout == done.stdout
    offline = interp(env, "weights", "verify", "tiny", HF_HUB_OFFLINE="1")
    assert offline.returncode == 0 and "OK: the tiny checkpoint" in offline.stdout, offline.stderr
    assert len(hub.requests) == seen  # neither asked the hub anything
    assert_downloaded(env, hub, gets=1)


def json_tool(env: dict, *args, **variables) -> tuple[int, int, str, str]:
    """`interp ARGS | python -m json.tool` in a shell, as a cluster script pipes it: (interp's exit code,
    json.tool's, what json.tool printed, interp's stderr)."""
    script = '"$@" 2>"$ERR" | "$PY" -m json.tool; echo "codes ${PIPESTATUS[0]} ${PIPESTATUS[1]}"'
    err = Path(env["HF_HOME"]).parent / "stderr.txt"
    done = subprocess.run(["bash", "-c", script, "interp", *_command(*args)], cwd=ROOT, capture_output=True, text=True,
                          env={**env, **variables, "ERR": str(err), "PY": sys.executable}, timeout=120)
    printed, codes = done.stdout.rsplit("codes ", 1)
    interp_code, tool_code = map(int, codes.split())
    return interp_code, tool_code, printed, err.read_text()


def test_weights_json_gives_a_script_the_path_and_sha256_or_the_failure_object(hub, env, tmp_path):
    """`interp weights download/verify/path` had no --json ("no such option"), where a cluster script wants the path
    and sha256 as JSON. Now each prints one object, and a failure (offline without the weights, a damaged copy) its
    stderr line and the failure object every command prints."""
    sha256, fetched = _sha256(PAYLOAD), None
    for verb in ("download", "verify", "path"):
        code, tool, printed, stderr = json_tool(env, "weights", verb, "tiny", "--json")
        assert (code, tool, stderr) == (0, 0, ""), stderr
        answer = json.loads(printed)
        assert answer["id"] == "tiny" and answer["sha256"] == sha256
        assert Path(answer["path"]).read_bytes() == PAYLOAD and answer["path"] == (fetched or answer["path"])
        fetched = answer["path"]
        if verb == "verify":
            assert answer["preset"] == "tiny" and answer["contents"] is None
    assert hub.gets == 1

    fresh = {**env, "HF_HOME": str(tmp_path / "empty-hf")}
    for verb in ("download", "verify", "path"):
        code, tool, printed, stderr = json_tool(fresh, "weights", verb, "slow", "--json", HF_HUB_OFFLINE="1")
        line, = stderr.splitlines()
        assert (code, tool) == (1, 0) and line.startswith("interp: error: slow weights unavailable: offline mode")
        assert json.loads(printed) == {"error": line.removeprefix("interp: error: "), "exit_code": 1, "path": None,
                                       "warnings": []}

    damaged = tmp_path / "demo.pt"
    damaged.write_bytes(DEMO.read_bytes()[:1000])
    code, tool, printed, stderr = json_tool(env, "weights", "verify", damaged, "--json")
    line, = stderr.splitlines()
    assert (code, tool) == (1, 0) and line.startswith(f"interp: error: {damaged}: not the demo checkpoint")
    answer = json.loads(printed)
    assert answer["error"] == line.removeprefix("interp: error: ") and answer["exit_code"] == 1


def test_download_draws_a_bar_on_a_terminal(hub, env):
    leader, follower = pty.openpty()
    # A fresh pseudo-terminal is 0 columns wide, and tqdm draws nothing in 0 columns.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with subprocess.Popen(_command("weights", "download", "tiny"), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=follower) as proc:
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the process closed its end
                break
            if not chunk:
                break
            drawn += chunk
        assert proc.wait(timeout=60) == 0, drawn
    os.close(leader)
    assert "100%" in drawn.decode(errors="replace") and "3.00M/3.00M" in drawn.decode(errors="replace")


def with_preset(env: dict, hub: LocalHub, name: str, filename: str, payload: bytes) -> dict:
    """`env` with one more preset, `name`, for `payload` served as `filename`."""
    presets = json.loads(env["INTERP_TEST_PRESETS"])
    presets.append(_preset(name, filename, hub.put(REPO, filename, payload), len(payload)))
    return {**env, "INTERP_TEST_PRESETS": json.dumps(presets)}


def test_a_big_download_off_a_terminal_says_it_starts_and_how_far_it_is(hub, env):
    """A Slurm log or a pipe saw nothing for the minutes the 1.2 GB take. Now: a line as it starts (what, how big,
    where to), a line now and then as a bar off a terminal prints them, and a last one with the rate; a small file
    (the test above) and a cached one still say nothing. 70 MB at 7 MB/s take 10 s: at least one quarter falls
    after the 5 s that a bar off a terminal keeps quiet for."""
    env = with_preset(env, hub, "big", "ckpt/big.pt", random.Random(3).randbytes(BIG))
    hub.fault = Fault(rate=7_000_000, on="GET", only="big.pt")
    done = interp(env, "weights", "download", "big")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == (f"interp: downloading big weights ckpt/big.pt (70.0 MB) from the Hugging Face repo {REPO} "
                        f"into the Hugging Face cache {Path(env['HF_HOME']) / 'hub'}"), lines
    now_and_then = [re.fullmatch(r"downloading big\.pt: (\d+\.\d) MB/70\.0 MB, (\d+)s elapsed, about \d+s left", line)
                    for line in lines[1:-2]]
    assert now_and_then and all(now_and_then) and len(now_and_then) <= 4, lines
    assert [float(m[1]) for m in now_and_then] == sorted({float(m[1]) for m in now_and_then})  # further each time
    assert all(int(m[2]) >= 5 for m in now_and_then)
    assert re.fullmatch(r"downloading big\.pt: 70\.0 MB/70\.0 MB in \d+\.\ds \(\d+\.\d MB/s\)", lines[-2]), lines
    assert lines[-1] == "interp: verifying sha256 of big.pt (70.0 MB, once per file)..."
    again = interp(env, "weights", "download", "big")
    assert again.returncode == 0 and again.stderr == "" and again.stdout == done.stdout
    assert hub.gets == 1


def test_a_first_morph_downloads_the_demo_model_from_the_hub_then_runs_offline(hub, env, tmp_path):
    """The shipped demo model's file put on the hub: the first morph fetches and verifies it, and morphs with it."""
    morph = (EXAMPLES / "demo_a.png", EXAMPLES / "demo_b.png", "--weights", "demohub", "--no-align", "--steps", 2)
    done = interp(env, *morph, "-o", tmp_path / "m.gif", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["weights"]["id"] == "demohub"
    assert report["weights"]["sha256"] == json.loads(DEMO.with_suffix(".json").read_text())["sha256"]
    assert Path(report["weights"]["path"]).read_bytes() == DEMO.read_bytes()
    assert (tmp_path / "m.gif").stat().st_size > 0 and hub.gets == 1
    seen = len(hub.requests)
    offline = interp(env, "weights", "verify", "demohub", HF_HUB_OFFLINE="1")
    assert offline.returncode == 0 and "OK: the demohub checkpoint" in offline.stdout, offline.stderr
    assert len(hub.requests) == seen


@pytest.mark.parametrize("named_by", ["argument", "environment"])
def test_a_damaged_copy_of_a_preset_says_how_to_fetch_and_use_the_preset_and_that_works(hub, env, tmp_path, named_by):
    """`interp weights verify COPY` of a damaged copy of a preset's file said "fetch it with `interp weights download
    PRESET`", after which a morph still used the copy ($INTERP_WEIGHTS) or the default (ffhq, not PRESET). The line
    now says how the morph uses the fetched preset: `--weights PRESET` for a file named on the command line,
    INTERP_WEIGHTS=PRESET for one that variable names. Both routes are followed, to a finished morph."""
    env = with_preset(env, hub, "hubdemo", "models/hubdemo.pt", DEMO.read_bytes())
    copy = tmp_path / "copy" / "hubdemo.pt"
    copy.parent.mkdir()
    copy.write_bytes(DEMO.read_bytes()[:100_000])  # a copy cut short
    if named_by == "argument":
        line = error_line(interp(env, "weights", "verify", copy))
        assert line.startswith(f"interp: error: {copy}: not the hubdemo checkpoint it looks like")
        use, = re.findall(r"and morph with `(--weights \S+)`", line)
        variables = {}
    else:
        env = {**env, "INTERP_WEIGHTS": str(copy)}
        line = error_line(interp(env, "weights", "verify"))
        assert line.startswith(f"interp: error: {copy} (from $INTERP_WEIGHTS): not the hubdemo checkpoint")
        use = ""
        variables = dict(re.findall(r"and set (INTERP_WEIGHTS)=([^\s;,]+)", line))
        assert variables
    fetched = follow(env, line)
    assert fetched.returncode == 0, fetched.stderr
    morph = interp(env, EXAMPLES / "demo_a.png", EXAMPLES / "demo_b.png", *shlex.split(use), "--no-align",
                   "--steps", 2, "-o", tmp_path / "m.gif", "--json", **variables)
    assert morph.returncode == 0, morph.stderr
    assert json.loads(morph.stdout)["weights"]["id"] == "hubdemo" and copy.read_bytes() == DEMO.read_bytes()[:100_000]


def test_workers_starting_at_once_on_a_fresh_cache_share_one_download(hub, env):
    """A job array's first tasks, all needing the weights at once: three processes, one GET, three verified files.

    huggingface_hub's lock on the blob lets one download and the others wait for it; interp's sha256 record
    is updated under its own lock. (`weights download` resolves the weights as a morph does, without the
    two seconds of torch a morph adds to each worker.)"""
    hub.fault = Fault(delay=1.0, on="GET")  # a body that takes a while: the three overlap in it
    workers = [start(env, "weights", "download", "tiny") for _ in range(3)]
    results = [(worker.wait(timeout=120), *worker.communicate()) for worker in workers]
    for returncode, stdout, stderr in results:
        assert returncode == 0 and stderr == "", stderr
        assert stdout == results[0][1] and f"(sha256 {_sha256(PAYLOAD)})" in stdout
    assert hub.gets == 1
    assert_downloaded(env, hub, gets=1)
    # The three sha256s merged into one entry of interp's record, for the blob all three links lead to.
    records = json.loads((Path(env["INTERP_CACHE_DIR"]) / "sha256-records.json").read_text())["files"]
    assert {path: entry["sha256"] for path, entry in records.items()} == {
        str(cached(env, "ckpt/tiny.pt").resolve()): _sha256(PAYLOAD)}


# --------------------------------------------------------------------------------------------------
# The connection breaks, the hub stalls, the user stops it


def test_a_dropped_connection_a_stalled_download_and_a_late_answer_each_say_so_and_the_advice_works(hub, env):
    hub.fault = [Fault(drop_after=1_000_000, on="GET", only="tiny.pt"), Fault(delay=2.0, on="GET", only="slow.pt"),
                 Fault(delay=1.5, on="HEAD", only="late.pt")]
    # All at once: huggingface_hub retries a broken download five times, a second apart, before it gives up.
    failed = at_once(env, (["weights", "download", "tiny"], {}),
                     (["weights", "download", "slow"], {"HF_HUB_DOWNLOAD_TIMEOUT": "1"}),
                     (["weights", "download", "late"], {"HF_HUB_ETAG_TIMEOUT": "1"}))
    drop_line, stall_line, late_line = (error_line((code, stderr)) for code, _, stderr in failed)
    for filename in ("ckpt/tiny.pt", "ckpt/slow.pt", "ckpt/late.pt"):
        assert_nothing_posing_as_done(env, filename)
    assert "tiny weights unavailable: the connection broke during the download (" in drop_line
    assert "slow weights unavailable: the hub stopped sending it for 1 s" in stall_line
    assert "could not be reached" not in drop_line + stall_line  # it was: the HEAD was answered
    assert "late weights unavailable: the Hugging Face Hub could not be reached (" in late_line

    # The advice, followed at once: the drop's rerun on a connection well again; the others on the same slow
    # hub, with the wait their line suggests.
    hub.fault = hub.fault[1:]
    (drop_args, drop_variables), (_, stall_variables), (_, late_variables) = map(suggestion, (drop_line,
                                                                                            stall_line, late_line))
    stall_variables = dict(re.findall(r"with (HF_HUB_DOWNLOAD_TIMEOUT)=(\d+)", stall_line), **stall_variables)
    late_variables = dict(re.findall(r"more than 1 s: (HF_HUB_ETAG_TIMEOUT)=(\d+)", late_line), **late_variables)
    assert set(stall_variables) == {"HF_HUB_DOWNLOAD_TIMEOUT"} and set(late_variables) == {"HF_HUB_ETAG_TIMEOUT"}
    reruns = at_once(env, (drop_args, drop_variables), (["weights", "download", "slow"], stall_variables),
                     (["weights", "download", "late"], late_variables))
    for code, _, stderr in reruns:
        assert code == 0, stderr
    assert_downloaded(env, hub)


# A Python caller's process: huggingface_hub imported before anything else, with what the environment said then;
# each download told to interp_cli.download_weights, its error's advice followed as printed (an assignment to
# os.environ, executed; where it names no value, the caller's own, argv[2]), then the same download again. Prints
# the two outcomes as JSON.
_FOLLOWS_IN_PROCESS = """
import json, os, re, sys
import huggingface_hub  # read HF_HOME, HF_HUB_CACHE and the timeouts now, as in a caller's process
from tests.hub_server import add_test_presets
add_test_presets()
from interp_cli import InterpError, download_weights
said = []
for _ in range(2):
    try:
        said.append(download_weights(sys.argv[1])["path"])
        break
    except InterpError as err:
        said.append(str(err))
        # The value told, or the caller's own where the line's stands for a folder of its choosing.
        advised = re.search(r'(os\\.environ\\["\\w+"\\]) = ("[^"]*")', str(err))
        exec(advised[1] + (f" = {sys.argv[2]!r}" if sys.argv[2] else f" = {advised[2]}"))
print(json.dumps(said))
"""


def follow_in_process(env: dict, preset: str, value: str = "", **variables) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _FOLLOWS_IN_PROCESS, preset, value], cwd=ROOT,
                          env={**env, **variables},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_python_caller_that_sets_the_advised_timeout_in_its_process_gets_its_download(hub, env):
    """"allow a slow connection more time with HF_HUB_DOWNLOAD_TIMEOUT=60" was a shell's words, and a Python caller
    that set the variable in its process waited as long as before: huggingface_hub reads it at its import. The
    caller is told the line that sets it, and interp hands the wait to huggingface_hub at each download."""
    hub.fault = [Fault(delay=2.0, on="GET", only="slow.pt"), Fault(delay=1.5, on="HEAD", only="late.pt")]
    stalled, made = follow_in_process(env, "slow", HF_HUB_DOWNLOAD_TIMEOUT="1")
    assert 'allow a slow connection more time with os.environ["HF_HUB_DOWNLOAD_TIMEOUT"] = "60"' in stalled, stalled
    assert made == str(cached(env, "ckpt/slow.pt"))
    late, made = follow_in_process(env, "late", HF_HUB_ETAG_TIMEOUT="1")
    assert 'more than 1 s: os.environ["HF_HUB_ETAG_TIMEOUT"] = "60"' in late, late
    assert made == str(cached(env, "ckpt/late.pt"))


@pytest.mark.parametrize("stop, code, said", [(signal.SIGINT, 130, "interp: interrupted"),
                                              (signal.SIGTERM, 143, "interp: terminated")])
def test_a_download_stopped_midway_leaves_nothing_posing_as_done_and_the_rerun_completes(hub, env, stop, code, said):
    hub.fault = Fault(stall_after=1_500_000, on="GET", times=1)
    proc = start(env, "weights", "download", "tiny")
    deadline = time.monotonic() + 60
    while hub.gets < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # inside the body: 1.5 MB sent, the rest held back
    proc.send_signal(stop)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert stderr.strip() == said and stdout == ""
    assert_nothing_posing_as_done(env)
    rerun = interp(env, "weights", "download", "tiny")
    assert rerun.returncode == 0, rerun.stderr
    assert_downloaded(env, hub)
    assert cache_state(env)["partial"] == [] and cache_state(env)["other"] == []


# --------------------------------------------------------------------------------------------------
# The hub refuses


def test_every_route_the_offline_line_gives_works_with_both_offline_variables_set(hub, env, tmp_path):
    """A cluster profile that sets HF_HUB_OFFLINE=1 and TRANSFORMERS_OFFLINE=1 (the compute nodes have no network),
    and a download run there by mistake. The line said "(or `unset HF_HUB_OFFLINE` first)": after that,
    TRANSFORMERS_OFFLINE=1 kept huggingface_hub offline and the download was refused again. Each route is followed
    here: the command as given, the unset, and the URL fetched by another tool and checked as the line says."""
    offline = {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    line = error_line(interp(offline, "weights", "download", "tiny"))
    assert "offline mode is on (HF_HUB_OFFLINE=1)" in line and hub.gets == 0

    given = follow(offline, line, HF_HOME=str(tmp_path / "given"))
    assert given.returncode == 0, given.stderr
    unset = re.search(r"\(or `unset ([^`]*)` first\)", line).group(1).split()
    rerun = interp({name: value for name, value in offline.items() if name not in unset}, "weights", "download",
                   "tiny", HF_HOME=str(tmp_path / "unset"))
    assert rerun.returncode == 0, rerun.stderr

    # "or download URL on any machine, ... put a copy on this machine (`interp weights verify /path/to/tiny.pt` checks
    # it) and set INTERP_WEIGHTS=/path/to/tiny.pt for the morphs and `interp weights` commands that name no weights":
    # with offline mode still on.
    import urllib.request

    url = re.search(r"or download (\S+) on any machine", line).group(1)
    copy = tmp_path / "copy" / "tiny.pt"
    copy.parent.mkdir()
    with urllib.request.urlopen(url, timeout=60) as answer:
        copy.write_bytes(answer.read())
    seen = len(hub.requests)
    verify = re.search(r"`(interp weights verify [^`]*)`", line.replace("/path/to/tiny.pt", str(copy))).group(1)
    checked = interp(offline, *shlex.split(verify)[1:])
    assert checked.returncode == 0 and "OK: the tiny checkpoint" in checked.stdout, checked.stderr
    where = interp({**offline, "INTERP_WEIGHTS": str(copy)}, "weights", "path")
    assert where.returncode == 0 and where.stdout.strip() == str(copy), where.stderr
    assert len(hub.requests) == seen  # the copy is used as it is, offline


# A Python caller's process: the test presets added as `python -m tests.hub_server` adds them, offline mode set in
# its environment before it started (`started`) or by the caller after huggingface_hub was imported (`in_process`);
# then a Session that finds no weights, and what its message says to run, run as written, in the same process.
_PYTHON_CALLER_OFFLINE = """
import json, os, re, sys
import huggingface_hub.constants  # imported, as by any earlier use of the hub: it has read HF_HUB_OFFLINE
if sys.argv[1] == "in_process":
    os.environ["HF_HUB_OFFLINE"] = "1"
import interp_cli
from interp_cli import weights
for fields in json.loads(os.environ["INTERP_TEST_PRESETS"]):
    weights.PRESETS[fields["name"]] = weights.Preset(**fields)
from interp_cli.pipeline import Session

try:
    Session("demohub", device="cpu")
except interp_cli.WeightsUnavailableError as err:
    told = str(err)
advice = re.search(r"fetch it with `([^`]*)`", told).group(1)
fetched = eval(advice, {"interp_cli": interp_cli})
session = Session("demohub", device="cpu")
print(json.dumps({"told": told, "advice": advice, "fetched": fetched, "loaded": str(session.weights.path),
                  "hub_offline": huggingface_hub.constants.HF_HUB_OFFLINE, "env": os.environ["HF_HUB_OFFLINE"]}))
"""


@pytest.mark.parametrize("offline_set", ["started", "in_process"])
def test_a_python_caller_offline_without_the_weights_is_told_a_python_call_that_fetches_them(hub, env, offline_set):
    """A Python caller's Session offline with no weights was told `HF_HUB_OFFLINE=0 interp weights download ...`, a
    shell command, and `interp_cli.weights.download` (not in the API) was refused by huggingface_hub in a process
    started with HF_HUB_OFFLINE=1 whatever the caller then set in os.environ: huggingface_hub reads the variable
    once, at its import. Now the message says `interp_cli.download_weights(weights=..., offline=False)`, which,
    run as written in the caller's own process, fetches the file, after which the Session loads it (offline
    still); huggingface_hub's offline switch is as the caller had it afterwards."""
    variables = {**env, "HF_HUB_OFFLINE": "1"} if offline_set == "started" else env
    done = subprocess.run([sys.executable, "-c", _PYTHON_CALLER_OFFLINE, offline_set], cwd=ROOT, env=variables,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["told"].startswith("demohub weights unavailable: offline mode is on (HF_HUB_OFFLINE=1)")
    assert seen["advice"] == 'interp_cli.download_weights(weights="demohub", offline=False)'
    assert "interp weights" not in seen["told"] and "unset" not in seen["told"]
    assert seen["told"].endswith('pass `weights="demo"`: the small model shipped with interp (cartoon faces only)')
    assert Path(seen["fetched"]["path"]).read_bytes() == DEMO.read_bytes() == Path(seen["loaded"]).read_bytes()
    assert seen["fetched"]["id"] == "demohub" and seen["fetched"]["sha256"] == _sha256(DEMO.read_bytes())
    assert hub.gets == 1 and seen["env"] == "1"
    assert seen["hub_offline"] is (offline_set == "started")
    assert done.stderr == ""  # progress=False by default: nothing printed, as every call of the API


@pytest.mark.parametrize("started", ["1", "0"], ids=["started-offline", "started-online"])
def test_a_python_caller_started_offline_who_turns_it_off_in_os_environ_downloads(hub, env, started):
    """HF_HUB_OFFLINE=1 when the caller's Python started, then `os.environ["HF_HUB_OFFLINE"] = "0"`: interp read
    the variable at call time and tried the download, which huggingface_hub (offline since its import) refused,
    said as "offline mode is on (HF_HUB_OFFLINE)". Now the download is made, as the environment says now, and the
    hub's own switch is left as the caller's process had it: on for one started offline, off for one started
    online (a download must never leave a caller's hub offline)."""
    script = ("import json, os, sys\n"
              "import huggingface_hub.constants\n"  # read HF_HUB_OFFLINE=1, as any earlier use of the hub has
              "from interp_cli import weights\n"
              "for fields in json.loads(os.environ['INTERP_TEST_PRESETS']):\n"
              "    weights.PRESETS[fields['name']] = weights.Preset(**fields)\n"
              "os.environ['HF_HUB_OFFLINE'] = '0'\n"
              "from interp_cli import download_weights\n"
              "print(json.dumps([download_weights('tiny')['path'], huggingface_hub.constants.HF_HUB_OFFLINE]))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**env, "HF_HUB_OFFLINE": started},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    path, hub_offline = json.loads(done.stdout)
    assert Path(path).read_bytes() == PAYLOAD and hub.gets == 1
    assert hub_offline is (started == "1")  # huggingface_hub's own switch as it was, after the download


@pytest.mark.parametrize("fault, said, retry", [
    (Fault(status=404), "someone/tiny has no file ckpt/tiny.pt at revision main (HTTP 404)", None),
    (Fault(status=401, unless_token="hf_test"), "the hub has no repo someone/tiny, or it is private: if you have "
     "access, log in with", {"HF_TOKEN": "hf_test"}),
    (Fault(status=403, unless_token="hf_test"), "someone/tiny is gated: accept its terms", {"HF_TOKEN": "hf_test"}),
    (Fault(status=429, times=1), "the hub answered HTTP 429 (too many requests): wait a few minutes, then try "
     "again", {}),
    (Fault(status=503, on="GET", times=1), "the hub answered HTTP 503 (a failure on its side): try again later", {}),
], ids=["404", "401", "403-gated", "429", "503-during-download"])
def test_a_refusing_hub_says_what_to_do_and_that_works(hub, env, fault, said, retry):
    hub.fault = dataclasses.replace(fault)  # a fresh count of `times` for each run of the test
    line = error_line(interp(env, "weights", "download", "tiny"))
    assert f"tiny weights unavailable: {said}" in line
    assert_nothing_posing_as_done(env)
    if retry is None:
        return
    if "HF_TOKEN" in retry:
        assert "HF_TOKEN" in line
    rerun = follow(env, line, **retry)
    assert rerun.returncode == 0, rerun.stderr
    assert_downloaded(env, hub)


_PYTHON_CALLER_GATED = """
import json, os, re
from interp_cli import InterpError, download_weights, weights
for fields in json.loads(os.environ["INTERP_TEST_PRESETS"]):
    weights.PRESETS[fields["name"]] = weights.Preset(**fields)
try:
    download_weights("tiny")
except InterpError as err:
    told = str(err)
line = re.search(r"give a token of your account: `([^`]*)`", told).group(1)  # run with the caller's token
exec(line.replace("hf_...", "hf_test"))
print(json.dumps({"told": told, "path": download_weights("tiny")["path"]}))
"""


@pytest.mark.parametrize("status", [401, 403])
def test_a_python_caller_refused_by_the_hub_is_told_how_to_give_a_token_in_its_own_process(hub, env, status):
    """A private or gated repo said "log in with `hf auth login` (or set HF_TOKEN)" to a Python caller: a shell
    command. Then 'set os.environ["HF_TOKEN"] to a token of your account', no line of Python. Now the caller is
    given the line, which, run in its process with its token for the value, gets the file on the next call
    (huggingface_hub reads the token at each request)."""
    hub.fault = Fault(status=status, unless_token="hf_test")
    done = subprocess.run([sys.executable, "-c", _PYTHON_CALLER_GATED], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert 'give a token of your account: `os.environ["HF_TOKEN"] = "hf_..."`' in seen["told"], seen["told"]
    assert "`hf" not in seen["told"] and "huggingface-cli" not in seen["told"]
    assert Path(seen["path"]).read_bytes() == PAYLOAD


def test_wrong_bytes_are_not_kept_and_the_suggested_rerun_fetches_the_right_ones(hub, env):
    hub.fault = Fault(body=bytes(len(PAYLOAD)), on="GET", times=1)  # the advertised etag, other bytes (a proxy)
    line = error_line(interp(env, "weights", "download", "tiny"))
    assert f"tiny.pt: sha256 mismatch (expected {_sha256(PAYLOAD)}, got {_sha256(bytes(len(PAYLOAD)))})" in line
    assert "removed from the Hugging Face cache; try again with `interp weights download tiny`" in line
    assert_nothing_posing_as_done(env)  # no blob named after the right sha256 holding the wrong bytes
    rerun = follow(env, line)
    assert rerun.returncode == 0, rerun.stderr
    assert_downloaded(env, hub, gets=2)


# --------------------------------------------------------------------------------------------------
# The cache's disk


def _mount_tmpfs(folder: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB file system for HF_HOME, too small for the 3 MB `tiny`."""
    folder = tmp_path / "small"
    _mount_tmpfs(folder, "size=2m")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.mark.parametrize("size_known", [True, False], ids=["size-advertised", "size-not-advertised"])
def test_a_full_disk_says_where_and_what_to_do_and_leaves_nothing_posing_as_done(hub, env, small_disk, tmp_path,
                                                                                  size_known):
    env = {**env, "HF_HOME": str(small_disk / "hf")}
    hub.fault = None if size_known else Fault(hide_size=True, on="HEAD")
    line = error_line(interp(env, "weights", "download", "tiny"))
    cache = small_disk / "hf" / "hub"
    assert f"tiny weights unavailable: no room for it in the Hugging Face cache {cache} (" in line
    assert "free space there, or set HF_HOME to a folder on a disk with room" in line
    if size_known:  # refused before a byte is fetched
        assert "3.0 MB needed" in line and hub.gets == 0
    # No stray temporary file either (huggingface_hub before 0.23 left one in the cache's top folder, holding
    # the disk full); a `.incomplete` under its name may stay, for the next run to resume.
    assert_nothing_posing_as_done(env)
    moved = interp(env, "weights", "download", "tiny", HF_HOME=str(tmp_path / "roomy"))
    assert moved.returncode == 0, moved.stderr


def test_a_full_disk_under_hf_hub_cache_names_that_variable_and_it_works(hub, env, small_disk, tmp_path):
    """HF_HUB_CACHE wins over HF_HOME: the line names the variable that moves this cache, and following it works
    where moving HF_HOME would not."""
    env = {**env, "HF_HUB_CACHE": str(small_disk / "cache")}
    line = error_line(interp(env, "weights", "download", "tiny"))
    assert "free space there, or set HF_HUB_CACHE to a folder on a disk with room" in line
    assert error_line(interp(env, "weights", "download", "tiny", HF_HOME=str(tmp_path / "elsewhere")))
    moved = interp(env, "weights", "download", "tiny", HF_HUB_CACHE=str(tmp_path / "roomy"))
    assert moved.returncode == 0, moved.stderr


@pytest.mark.parametrize("variable", ["HF_HOME", "HF_HUB_CACHE"])
def test_a_python_caller_that_moves_the_cache_in_its_process_gets_its_download_there(hub, env, small_disk,
                                                                                     tmp_path, variable):
    """"set HF_HOME to a folder on a disk with room", followed in a Python caller's process (os.environ), moved
    nothing: huggingface_hub had read the variable at its import and filled the same disk again. interp now reads
    it at each download and hands the cache to huggingface_hub. The caller was then told 'set os.environ["HF_HOME"]
    to a folder ...', no line of Python; now it is given the line, whose value it replaces with its own folder."""
    full = {"HF_HOME": str(small_disk / "hf")} if variable == "HF_HOME" else {"HF_HUB_CACHE": str(small_disk / "c")}
    roomy = tmp_path / "roomy"
    told, made = follow_in_process({**env, **full}, "tiny", str(roomy))
    assert (f'or point {variable} at a folder on a disk with room: `os.environ["{variable}"] = "/path/to/folder"`'
            in told), told
    hub_folder = roomy / "hub" if variable == "HF_HOME" else roomy
    assert Path(made).is_relative_to(hub_folder) and Path(made).read_bytes() == PAYLOAD


def test_an_interrupted_download_is_finished_on_a_disk_with_room_for_the_rest(hub, env, tmp_path):
    """Half of `tiny` left in the cache by an interrupted download, on a disk with room for the other half but not
    for all of it: the room check refused the download, though huggingface_hub (before 1.18) resumes the partial
    file and the rest fits. It counts the bytes that are there now. From 1.18 huggingface_hub starts afresh beside
    such a file, and the download is refused as one that does not fit."""
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "size=3m")
    try:
        env = {**env, "HF_HOME": str(disk / "hf")}
        blobs = disk / "hf" / "hub" / "models--someone--tiny" / "blobs"
        blobs.mkdir(parents=True)
        # What a download stopped halfway leaves (see the stopped download's test): its partial file, by the etag.
        (blobs / f"{_sha256(PAYLOAD)}.incomplete").write_bytes(PAYLOAD[:len(PAYLOAD) // 2])
        free = shutil.disk_usage(disk).free
        assert len(PAYLOAD) // 2 <= free < len(PAYLOAD)
        done = interp(env, "weights", "download", "tiny")
        if hub_download._hub_version() >= hub_download._FRESH_PARTIAL_FROM:
            assert "no room for it in the Hugging Face cache" in error_line(done) and "3.0 MB needed" in done.stderr
            assert hub.gets == 0
            return
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert_downloaded(env, hub, gets=1)
        assert [ranges for method, _, ranges in hub.requests if method == "GET"] == [f"bytes={len(PAYLOAD) // 2}-"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_an_hour_old_partial_download_is_resumed_where_the_hub_resumes_it_and_removed_where_it_never_will(hub, env):
    """What an interrupted download left an hour ago, beside a newer release's killed one (a shared cache): an older
    huggingface_hub (before 1.18, the floor's 0.20) resumes its `blobs/<etag>.incomplete`, so that one must not be
    taken for a killed download's and removed first: the rest is fetched, not all of it again. From 1.18 the hub
    never reads it, so it goes, with the newer release's `<etag>.<8 hex>.incomplete`, which no release reads again
    (they were up to 1.2 GB each, kept for good). Run on both venvs, this exercises both release lines."""
    blobs = Path(env["HF_HOME"]) / "hub" / "models--someone--tiny" / "blobs"
    blobs.mkdir(parents=True)
    half = len(PAYLOAD) // 2
    older, newer = blobs / f"{_sha256(PAYLOAD)}.incomplete", blobs / f"{_sha256(PAYLOAD)}.0badc0de.incomplete"
    older.write_bytes(PAYLOAD[:half])
    newer.write_bytes(PAYLOAD[:1000])
    hour_ago = time.time() - 3600
    for path in (older, newer):
        os.utime(path, (hour_ago, hour_ago))
    # and the lock file every release takes before it writes a partial file, which a killed download leaves too
    lock = Path(env["HF_HOME"]) / "hub" / ".locks" / "models--someone--tiny" / f"{_sha256(PAYLOAD)}.lock"
    lock.parent.mkdir(parents=True)
    lock.touch()
    done = interp(env, "weights", "download", "tiny")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert_downloaded(env, hub, gets=1)
    assert not older.exists() and not newer.exists()  # resumed into the file, or removed
    resumed = hub_download._hub_version() < hub_download._FRESH_PARTIAL_FROM
    assert [ranges for method, path, ranges in hub.requests if method == "GET" and "/api/" not in path] == [
        f"bytes={half}-" if resumed else None], hub.requests


def test_an_interrupted_download_without_room_for_the_rest_says_how_much_more(hub, env, small_disk):
    """The same half of `tiny` on the 2 MB disk, where not even the other half fits: refused, saying what is
    missing beside what is there (where huggingface_hub resumes it), or all of it (where it starts afresh)."""
    env = {**env, "HF_HOME": str(small_disk / "hf")}
    blobs = small_disk / "hf" / "hub" / "models--someone--tiny" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / f"{_sha256(PAYLOAD)}.incomplete").write_bytes(PAYLOAD[:len(PAYLOAD) // 2])
    line = error_line(interp(env, "weights", "download", "tiny"))
    free = human_size(shutil.disk_usage(small_disk).free)
    if hub_download._hub_version() >= hub_download._FRESH_PARTIAL_FROM:
        said = f"3.0 MB needed, {free} free"
    else:
        said = f"1.5 MB more needed (1.5 MB of its 3.0 MB are here from an interrupted download), {free} free"
    assert f"no room for it in the Hugging Face cache {small_disk / 'hf' / 'hub'} ({said}): free space there" in line
    assert hub.gets == 0


# Bigger than one read of huggingface_hub's (10 MB), so that a download killed after 12 MB leaves 10 MB on disk.
KILLED_PAYLOAD = random.Random(5).randbytes(16_000_000)


def start_killed_download(env: dict, hub: LocalHub) -> Path:
    """`weights download mid` killed by SIGKILL (an OOM kill, Slurm past its grace time) after 12 MB arrived: no
    handler runs. Returns the partial file it leaves in the cache's blobs/, 10 MB (huggingface_hub's first read)."""
    hub.fault = Fault(stall_after=12_000_000, on="GET", only="mid.pt", times=1)
    proc = start(env, "weights", "download", "mid")
    partial = None
    deadline = time.monotonic() + 60
    while partial is None and time.monotonic() < deadline:
        found = [Path(env["HF_HOME"]) / "hub" / name for name in cache_state(env)["partial"]]
        partial = next((path for path in found if path.stat().st_size >= 10_000_000), None)
        time.sleep(0.05)
    proc.kill()
    proc.communicate(timeout=60)
    assert partial is not None and proc.returncode == -signal.SIGKILL
    return partial


def test_a_download_killed_hard_and_rerun_at_once_on_a_disk_without_room_for_two_names_what_it_left(hub, env,
                                                                                                    tmp_path):
    """From huggingface_hub 1.18 a rerun never reads the partial file of a killed download: it starts another beside
    it, and on a disk with room for one copy but not two the room check refused it, saying "free space there" of a
    cache where the space was held by that file, which nothing names or removes. The line now names it, its size
    and the command that removes it; run as given, the download then fits. Before 1.18 the rerun resumes the file."""
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "size=24m")
    try:
        env = with_preset({**env, "HF_HOME": str(disk / "hf")}, hub, "mid", "ckpt/mid.pt", KILLED_PAYLOAD)
        partial = start_killed_download(env, hub)
        done = interp(env, "weights", "download", "mid")
        if hub_download._hub_version() < hub_download._FRESH_PARTIAL_FROM:
            assert done.returncode == 0, done.stderr
        else:
            line = error_line(done)
            assert (f"no room for it in the Hugging Face cache {disk / 'hf' / 'hub'} (16.0 MB needed, ") in line
            assert (f"free space there (killed downloads left a partial file there that nothing reads again, "
                    f"{human_size(partial.stat().st_size)}: `rm -f -- {partial}`), or set HF_HOME") in line
            command = re.search(r"`(rm [^`]*)`", line).group(1)
            assert subprocess.run(command, shell=True).returncode == 0
            again = interp(env, "weights", "download", "mid")
            assert again.returncode == 0, again.stderr
        assert cached(env, "ckpt/mid.pt").read_bytes() == KILLED_PAYLOAD
        assert cache_state(env)["partial"] == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_what_a_killed_download_left_is_removed_once_no_download_holds_it(hub, env):
    """The partial file of a download killed long ago (its mtime set back an hour) stayed in blobs/ for good from
    huggingface_hub 1.18, up to 1.2 GB a kill. A later run removes it, but only where no download holds
    huggingface_hub's lock on that file: while a live download (stalled, its file unwritten for as long) holds it,
    a second run waiting for that lock leaves it alone. Before 1.18 the waiting run resumes it, as it always did."""
    env = with_preset(env, hub, "mid", "ckpt/mid.pt", KILLED_PAYLOAD)
    hub.fault = Fault(stall_after=12_000_000, on="GET", only="mid.pt", times=1)
    live = start(env, "weights", "download", "mid")
    try:
        deadline = time.monotonic() + 60
        partial = None
        while partial is None and time.monotonic() < deadline:
            found = [Path(env["HF_HOME"]) / "hub" / name for name in cache_state(env)["partial"]]
            partial = next((path for path in found if path.stat().st_size >= 10_000_000), None)
            time.sleep(0.05)
        assert partial is not None
        hour_ago = time.time() - 3600
        os.utime(partial, (hour_ago, hour_ago))
        heads = sum(1 for method, path, _ in hub.requests if method == "HEAD")
        waiting = start(env, "weights", "download", "mid")
        # interp's own request, then huggingface_hub's, after which it waits for the live download's lock.
        while sum(1 for method, path, _ in hub.requests if method == "HEAD") < heads + 2:
            assert waiting.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)
        assert partial.stat().st_size >= 10_000_000
        live.kill()
        live.wait(timeout=60)
        stdout, stderr = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, stderr
    finally:
        live.kill()
        live.wait()
    blob = cached(env, "ckpt/mid.pt").resolve()
    assert blob.read_bytes() == KILLED_PAYLOAD
    # What a newer release's killed download left (a cache shared with another environment) is never read either.
    stale = [blob.with_name(f"{blob.name}.0badc0de.incomplete")]
    if hub_download._hub_version() < hub_download._FRESH_PARTIAL_FROM:
        assert cache_state(env)["partial"] == []  # resumed by the waiting run
    else:
        assert partial.exists()  # held by a live download when the waiting run looked
        stale.append(partial)
    stale[0].write_bytes(b"x" * 1000)
    for path in stale:
        os.utime(path, (hour_ago, hour_ago))
    # A partial file written a moment ago is kept, its lock free or not: it may be a download on another node of a
    # file system whose locks each node keeps to itself (Lustre's localflock). One unwritten for an hour goes.
    recent = blob.with_name(f"{blob.name}.1badc0de.incomplete")
    recent.write_bytes(b"x" * 1000)
    later = interp(env, "weights", "download", "mid")
    assert later.returncode == 0 and later.stderr == "", later.stderr
    assert [path for path in stale if path.exists()] == [] and recent.exists()


@pytest.fixture
def read_only_home(tmp_path):
    """An HF_HOME that cannot be written: a read-only mount as root (root ignores file modes), else a mode."""
    folder = tmp_path / "read-only"
    if os.geteuid() == 0:
        _mount_tmpfs(folder, "ro,size=64m")  # room enough: only the mode is at fault
        yield folder
        subprocess.run(["umount", "-l", str(folder)], check=True)
        return
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_a_read_only_cache_says_so_and_the_suggested_variable_works(hub, env, read_only_home, tmp_path):
    env = {**env, "HF_HOME": str(read_only_home / "hf")}
    line = error_line(interp(env, "weights", "download", "tiny"))
    reason = os.strerror(errno.EROFS if os.geteuid() == 0 else errno.EACCES)
    assert (f"tiny weights unavailable: the Hugging Face cache {read_only_home / 'hf' / 'hub'} cannot be written "
            f"({reason}): set HF_HOME to a folder you can write to") in line
    assert hub.gets == 0
    moved = interp(env, "weights", "download", "tiny", HF_HOME=str(tmp_path / "writable"))
    assert moved.returncode == 0, moved.stderr


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_a_read_only_cache_that_holds_the_file_serves_it_without_a_request(hub, env, tmp_path):
    """A cluster's shared cache, filled once and mounted read-only on the nodes: found, verified, never written."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    filled = interp(env, "weights", "download", "tiny")
    assert filled.returncode == 0, filled.stderr
    shared = tmp_path / "shared"
    shared.mkdir()
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", env["HF_HOME"], str(shared)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        # Some kernels apply `ro` to a bind mount only on a remount.
        subprocess.run(["mount", "-o", "remount,ro,bind", str(shared)], capture_output=True)
        if not _read_only_mount_refuses(shared):
            pytest.skip("the bind mount did not become read-only here")
        seen = len(hub.requests)
        done = interp(env, "weights", "verify", "tiny", HF_HOME=str(shared), INTERP_CACHE_DIR=str(tmp_path / "node"))
        assert done.returncode == 0 and "OK: the tiny checkpoint" in done.stdout, done.stderr
        download = interp(env, "weights", "download", "tiny", HF_HOME=str(shared))
        assert download.returncode == 0 and download.stderr == "", download.stderr
        assert len(hub.requests) == seen
    finally:
        subprocess.run(["umount", "-l", str(shared)], check=True)


def _read_only_mount_refuses(folder: Path) -> bool:
    try:
        (folder / "probe").write_bytes(b"")
    except OSError as err:
        return err.errno == errno.EROFS
    (folder / "probe").unlink()
    return False


# --------------------------------------------------------------------------------------------------
# The sha256 check of a big file

# Another run hashing FILE (sha256_record.file_sha256, under its per-file lock): it has read the bytes, says so in
# FILE.read, and holds on until HOLD exists, as a slow disk would.
_HASHER = """
import os, sys, time
from interp_cli import sha256_record
from interp_cli.sha256_record import sha256_of
hold, target = sys.argv[1:3]

def slow(path):
    digest = sha256_of(path)
    open(target + ".read", "w").close()
    while not os.path.exists(hold):
        time.sleep(0.01)
    return digest

sha256_record.sha256_of = slow
sha256_record.file_sha256(target)
"""


def test_a_run_waiting_for_another_runs_sha256_does_not_say_it_verifies(hub, env, tmp_path):
    """A job array's workers, one hashing the weights and the others waiting for its digest: each printed
    "verifying sha256 of ... (once per file)" before it waited, so a log showed the 1.2 GB read as many times as
    there were workers. Now only the run that reads the file says so."""
    env = with_preset(env, hub, "big", "ckpt/big.pt", random.Random(3).randbytes(BIG))
    assert interp(env, "weights", "download", "big").returncode == 0
    big = cached(env, "ckpt/big.pt")
    env = {**env, "INTERP_CACHE_DIR": str(tmp_path / "no-record-yet")}  # a node whose runs have hashed nothing
    hold = tmp_path / "hold"
    hasher = subprocess.Popen([sys.executable, "-c", _HASHER, str(hold), str(big)], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{big}.read").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        waiting = start(env, "weights", "download", "big")
        time.sleep(1.5)  # started, and waiting on the hasher's lock
        assert waiting.poll() is None
        hold.touch()
        stdout, stderr = waiting.communicate(timeout=60)
        assert waiting.returncode == 0 and stderr == "", stderr
        assert f"(sha256 {_sha256(big.read_bytes())})" in stdout
        assert hasher.wait(timeout=60) == 0
    finally:
        hasher.kill()
        hasher.wait()
    # A run that reads the file itself says so: one with a record of its own, empty.
    reading = interp(env, "weights", "download", "big", INTERP_CACHE_DIR=str(tmp_path / "own-record"))
    assert reading.returncode == 0, reading.stderr
    assert reading.stderr == "interp: verifying sha256 of big.pt (70.0 MB, once per file)...\n"


# Two downloads in threads of one Python caller, each held by the hub until the script lets it go, so that the
# first to start ends first: A in, B in, A out (B still downloading), B out. Prints the hub logger's level and
# whether huggingface_hub's bars are off, while B still downloads and after both.
_TWO_DOWNLOADS_IN_THREADS = """
import json, logging, os, sys, threading, time
from tests.hub_server import Fault, LocalHub

hub = LocalHub()
first, second = threading.Event(), threading.Event()
shas = {name: hub.put("someone/tiny", name, name.encode() * 1000) for name in ("a.pt", "b.pt")}
hub.fault = [Fault(hold=first, on="GET", only="a.pt"), Fault(hold=second, on="GET", only="b.pt")]
os.environ["HF_ENDPOINT"] = hub.endpoint
import huggingface_hub.file_download
from huggingface_hub.utils import are_progress_bars_disabled
from interp_cli.hub_download import HubFile, locate_on_hub
logger = logging.getLogger("huggingface_hub")
logger.setLevel(logging.INFO)  # the caller's own (after the hub's import, which sets its default)

def fetch(name):
    locate_on_hub(HubFile("someone/tiny", name), preset=None, spec=name, download=True, progress=False,
                  force_download=False)

def getting(name):
    while not any(method == "GET" and (path.endswith(name) or path.endswith(shas[name]))
                  for method, path, _ in list(hub.requests)):
        time.sleep(0.01)

a = threading.Thread(target=fetch, args=("a.pt",))
a.start()
getting("a.pt")
b = threading.Thread(target=fetch, args=("b.pt",))
b.start()
getting("b.pt")
first.set()
a.join()
during = [logger.level, are_progress_bars_disabled()]
second.set()
b.join()
print(json.dumps({"during": during, "after": [logger.level, are_progress_bars_disabled()]}))
hub.close()
"""


def test_two_downloads_in_threads_leave_the_hub_quiet_while_either_runs_and_its_settings_as_they_were(env):
    """A Python caller downloading two files in threads: the first download to end put the huggingface_hub logger's
    level (and its bars) back while the second still ran, so its retry lines could reach stderr, and the second
    then \"restored\" the quiet level the first had set, leaving the caller's logger at ERROR for good. Now the
    first download in quiets the hub and the last out gives the caller its own settings back."""
    import logging

    done = subprocess.run([sys.executable, "-c", _TWO_DOWNLOADS_IN_THREADS], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**env, "HF_HUB_DOWNLOAD_TIMEOUT": "60"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"during": [logging.ERROR, True], "after": [logging.INFO, False]}
    assert done.stderr == ""


@pytest.mark.parametrize("owner, name, when", [
    ("warnings", "filterwarnings", lambda action, message="", *args, **kwargs: "free disk space" in message),
    ("hub_download", "_hub_logs_quieted", lambda: True),
], ids=["while-quieting", "once-quieted"])
def test_a_stop_as_a_download_quiets_the_hub_gives_the_caller_its_settings_back(owner, name, when):
    """A Python caller's SIGTERM handler raising its own exception as interp quieted huggingface_hub for a download
    (a real SIGTERM, landing inside the change or as it returns): the hub's logger was left at ERROR and its
    disk-space warning ignored, in the caller's process for good, and no later download put them back (the change
    was not counted as held, or counted and never let go). Now they are the caller's again."""
    import logging
    import warnings

    from tests.races import Stopped, stop_inside

    logger = logging.getLogger("huggingface_hub")
    before = (logger.level, list(warnings.filters))
    with stop_inside({"warnings": warnings, "hub_download": hub_download}[owner], name, when), pytest.raises(Stopped):
        with hub_download._quiet_hub_logs():
            pass
    assert (logger.level, list(warnings.filters)) == before
    with hub_download._quiet_hub_logs():  # quieted again as usual by the next download
        assert logger.level == logging.ERROR
    assert (logger.level, list(warnings.filters)) == before


def test_a_stop_as_a_download_takes_the_hubs_lock_to_judge_a_partial_file_lets_it_go(tmp_path, monkeypatch):
    """A Python caller's SIGTERM handler raising its own exception as interp took huggingface_hub's lock on a file
    (to judge whether a partial download is a killed one's): the caller's process held the hub's lock for the rest
    of its life, so the hub's next download of that file there waited on it. Now it goes with the stop (a real
    SIGTERM, landing as the lock is taken)."""
    from tests.races import Stopped, stop_inside

    blobs = tmp_path / "models--someone--weights" / "blobs"
    lock = tmp_path / ".locks" / "models--someone--weights" / "abc.lock"
    lock.parent.mkdir(parents=True)
    lock.touch()
    monkeypatch.setattr(hub_download, "hub_cache", lambda: tmp_path)
    with stop_inside(fcntl, "flock"), pytest.raises(Stopped):
        with hub_download._unheld(blobs, "abc"):
            pytest.fail("the block ran")
    fd = os.open(lock, os.O_RDWR)  # as the hub's own lock takes it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError while anyone holds it
    finally:
        os.close(fd)


def test_weights_verify_json_off_a_terminal_keeps_stderr_quiet_as_download_json_does(hub, env, tmp_path):
    """`interp weights download --json` off a terminal printed no progress (progress.wanted), but `verify --json`
    still said "verifying sha256 of ..." on stderr, and so did `download --json` of a file on this machine (which
    verify checks). Now all three keep quiet under --json off a terminal; without --json, stderr to a file (a Slurm
    log), the line is still there as the run's sign of life."""
    env = with_preset(env, hub, "big", "ckpt/big.pt", random.Random(3).randbytes(BIG))
    assert interp(env, "weights", "download", "big").returncode == 0
    big = cached(env, "ckpt/big.pt")
    line = "interp: verifying sha256 of big.pt (70.0 MB, once per file)...\n"
    for args in (("verify", "big"), ("verify", str(big)), ("download", str(big))):
        as_json = interp(env, "weights", *args, "--json")
        assert as_json.returncode == 0 and json.loads(as_json.stdout)["preset"] == "big", as_json.stderr
        assert "verifying" not in as_json.stderr, (args, as_json.stderr)
    log = tmp_path / "slurm.log"
    with open(log, "w") as stderr:
        logged = subprocess.run(_command("weights", "verify", "big"), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=stderr, text=True, timeout=120)
    assert logged.returncode == 0 and "OK: the big checkpoint" in logged.stdout
    assert log.read_text() == line


def test_every_weights_verb_and_cache_take_quiet_and_then_say_nothing_on_stderr(hub, env):
    """A job script that passes --quiet to every interp command failed at `interp weights download big --quiet`
    (exit 2, "no such option '--quiet'"), and at verify, path, list and `interp cache` alike, where every other
    verb takes it. Now each takes --quiet (and -q): stderr empty (no download line and bars, no "verifying sha256",
    no "nothing to download"), stdout as without it."""
    env = with_preset(env, hub, "big", "ckpt/big.pt", random.Random(3).randbytes(BIG))
    fetched = interp(env, "weights", "download", "big", "--quiet")
    assert fetched.returncode == 0 and fetched.stderr == "", fetched.stderr
    big = cached(env, "ckpt/big.pt")
    assert fetched.stdout.startswith(f"big: {big}") and hub.gets == 1
    for args in (("weights", "verify", "big"), ("weights", "verify", str(big)), ("weights", "download", str(big)),
                 ("weights", "download", "demo"), ("weights", "path", "big"), ("weights", "list"), ("cache",)):
        loud = interp(env, *args)
        assert loud.returncode == 0, (args, loud.stderr)
        for flag in ("--quiet", "-q"):
            quiet = interp(env, *args, flag)
            assert quiet.returncode == 0 and quiet.stderr == "", (args, flag, quiet.stderr)
            assert quiet.stdout == loud.stdout, args
    assert "verifying sha256" in interp(env, "weights", "verify", "big").stderr  # what --quiet leaves out


@pytest.mark.parametrize("variable, value", [("HF_HUB_DOWNLOAD_TIMEOUT", "abc"), ("HF_HUB_ETAG_TIMEOUT", "")])
def test_a_hub_wait_that_is_no_whole_number_is_one_line_naming_it_not_an_internal_error(tmp_path, variable, value):
    """huggingface_hub reads its two waits with int() at import: `HF_HUB_DOWNLOAD_TIMEOUT=abc interp weights list`
    printed "Error importing huggingface_hub.file_download" on stdout, then "internal error: ValueError" (exit 1).
    Found by benchmarks/fuzz_env.py, seed 23."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(tmp_path / "cache"),
               HF_HUB_CACHE=str(tmp_path / "hub"), **{variable: value})
    env.pop("INTERP_WEIGHTS", None)
    for verb in (["weights", "list"], ["weights", "path"], ["weights", "remove", "ffhq"]):
        done = subprocess.run([sys.executable, "-m", "interp_cli", *verb], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)
        assert (done.returncode, done.stdout) == (2, ""), (verb, done.stdout, done.stderr)
        assert done.stderr == (f"interp: error: {variable}={value} is not a whole number of seconds, as "
                               f"huggingface_hub reads it: unset it, or set {variable}=60\n"), verb
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing made: no cache, no hub folder
