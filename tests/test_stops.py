"""Stop signals: `deferred` holds a real SIGINT/SIGTERM until its block ends, and a stop that lands in the
windows it guards (ffmpeg just forked, a temp just made) leaves no file behind once the process is gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from interp_cli import stops
from interp_cli.stops import STOP_SIGNALS, Terminated, deferred, handlers_given_back, raise_on_sigterm

ROOT = Path(__file__).resolve().parents[1]


def test_a_real_sigint_inside_deferred_arrives_when_the_block_ends():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler would have run by now, had it not been held
            with deferred():  # nested: still held until the outermost block ends
                os.kill(os.getpid(), signal.SIGINT)
            reached.append("end of block")
    assert reached == ["end of block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_a_held_sigterm_raises_terminated_and_a_quiet_block_raises_nothing():
    # raise_on_sigterm handles SIGHUP too, and the first stop then ignores both, and it handles SIGINT, keeping each
    # stop for `raise_swallowed`: all put back as main puts them back, or every child the later tests start would
    # inherit SIGHUP ignored, and a later test's own Ctrl-C, kept, would be raised in a test after it.
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    with handlers_given_back():
        raise_on_sigterm()
        with deferred():
            pass  # nothing came: nothing is raised
        with pytest.raises(Terminated):
            with deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
    assert {signum: signal.getsignal(signum) for signum in STOP_SIGNALS} == before
    assert stops._swallowed == []


def hangup_as_in_a_session() -> None:
    """For a child: SIGHUP at its default, as a login shell starts commands. A suite under nohup, or after a
    test whose stop made this process ignore it, would pass it on ignored, as interp then leaves it."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def ctrl_c_as_typed() -> None:
    """For a child: SIGINT at its default, as a terminal's foreground command has it. A suite run as a background
    job of a script would pass it on ignored, and the child's Ctrl-C would then test nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(script: str, cwd: Path, **environ: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **environ)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def _no_process_mentions(path: Path, timeout: float = 20) -> None:
    """Wait until no live process has `path` on its command line (an orphaned ffmpeg writing there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                busy |= os.fsencode(str(path)) in Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
        if not busy:
            return
        time.sleep(0.1)
    raise AssertionError(f"a process still writes under {path}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_while_ffmpeg_is_being_started_leaves_no_file(tmp_path):
    """The stop lands inside subprocess.Popen, after ffmpeg was forked and before Popen returned. Before
    the fix the writer never learned of that ffmpeg; it removed its temp, and the orphan, seeing end of
    input, wrote an empty MP4 under the temp's name afterwards (found by CI, in the GNU parallel example)."""
    import imageio_ffmpeg

    slow = tmp_path / "slow-ffmpeg"  # an ffmpeg slow to start, as on a loaded machine: it opens its output late
    slow.write_text(f"#!/bin/sh\nsleep 0.5\nexec {imageio_ffmpeg.get_ffmpeg_exe()} \"$@\"\n")
    slow.chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    done = _run(f"""
        import os, signal, subprocess
        import numpy as np
        from interp_cli.stops import Terminated, raise_on_sigterm
        from interp_cli.write import open_writer

        raise_on_sigterm()
        real = subprocess.Popen._execute_child

        def fork_then_stop(self, *args, **kwargs):
            real(self, *args, **kwargs)  # ffmpeg now exists
            os.kill(os.getpid(), signal.SIGTERM)  # and a scheduler's stop arrives before Popen returns

        subprocess.Popen._execute_child = fork_then_stop
        try:
            with open_writer({str(out / "m.mp4")!r}) as writer:
                writer.write(np.zeros((64, 64, 3), np.uint8))
        except Terminated:
            print("terminated")
    """, tmp_path, IMAGEIO_FFMPEG_EXE=str(slow))
    assert done.stdout == "terminated\n", done.stderr
    _no_process_mentions(out)
    assert os.listdir(out) == []


def test_a_stop_between_making_a_temp_and_handing_it_over_leaves_nothing_at_exit(tmp_path):
    """Ctrl-C right after the temp file was made: it is recorded as ours in the same breath, and what the
    process still holds when it exits is removed (before the fix it stayed until the next run's sweep). The
    writer has it in hand in that breath too, so it is gone with the stop itself, not only at exit (before, it
    stayed while a Python caller's process lived)."""
    out = tmp_path / "out"
    out.mkdir()
    done = _run(f"""
        import os, signal
        from interp_cli import files
        from interp_cli.write import open_writer

        real = files._lock_new

        def made_then_stopped(path):
            fd = real(path)
            print("made", os.path.exists(path))
            os.kill(os.getpid(), signal.SIGINT)
            return fd

        files._lock_new = made_then_stopped
        try:
            open_writer({str(out / "m.gif")!r})
        except KeyboardInterrupt:
            print("interrupted", sorted(os.listdir({str(out)!r})))
    """, tmp_path)
    assert done.stdout == "made True\ninterrupted []\n", done.stderr  # the temp existed when the stop arrived
    assert os.listdir(out) == []  # and nothing is left at exit


def test_a_frames_folder_moved_aside_is_put_back_at_exit(tmp_path):
    """A stop while a finished frames folder replaces an old one: the old folder is never lost."""
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "frame_0000.png").write_bytes(b"old")
    done = _run(f"""
        import os
        from interp_cli import files
        aside = files.claim_temp({str(frames)!r}, "old", directory=True, create=False)
        os.rename({str(frames)!r}, aside)
        print("moved")
        raise KeyboardInterrupt  # stopped before the new folder was renamed into place
    """, tmp_path)
    assert done.stdout == "moved\n" and "KeyboardInterrupt" in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["frames"]
    assert (frames / "frame_0000.png").read_bytes() == b"old"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_leaves_its_parents_temps_alone_at_exit(tmp_path):
    """A library caller that forks (multiprocessing's fork start method, a daemon) must not have the
    child's exit remove the temp the parent is still writing."""
    done = _run(f"""
        import os, sys
        from interp_cli import files
        tmp = files.new_temp({str(tmp_path / "out.gif")!r})
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # a normal exit: atexit handlers run in the child
        os.waitpid(pid, 0)
        print(tmp.exists())
        files.discard(tmp)
    """, tmp_path)
    assert done.stdout == "True\n", done.stderr


# A real `interp` process whose import of a module (torch unless told) waits until the test has sent a stop,
# so the signal lands at start-up: with torch, after the arguments were parsed; with click, before the CLI's
# main has run; with interp_cli.stops, just after the entry point's hold (stops_at_start.py). With `--hold-exit`
# it also waits in an atexit callback (registered first, so it runs last) until the test has sent a second one.
# It starts as the console script setup.cfg declares does (`module:function` imported and called, as pip's
# generated script does) or, given "-m", as `python -m interp_cli`.
_HELD = """
import atexit, importlib, os, runpy, sys, time
marker, holding, entry = sys.argv.pop(1), sys.argv.pop(1), sys.argv.pop(1)
hold_exit = sys.argv[1] == "--hold-exit" and sys.argv.pop(1)

def wait_for(name):
    open(marker + "." + name, "w").close()
    while not os.path.exists(marker + "." + name + ".go"):
        time.sleep(0.01)

class HoldTorch:
    def find_spec(self, name, path=None, target=None):
        if name == holding:
            wait_for("importing")
        return None

if hold_exit:
    atexit.register(wait_for, "exiting")
sys.meta_path.insert(0, HoldTorch())
if entry == "-m":
    runpy.run_module("interp_cli", run_name="__main__", alter_sys=True)
else:
    module, function = entry.split(":")
    getattr(importlib.import_module(module), function)()
"""


def console_entry() -> str:
    """The `interp` console script's `module:function`, from setup.cfg (what pip writes the script from)."""
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    return {name.strip(): target.strip() for name, target in (line.split("=", 1) for line in lines)}["interp"]


class HeldInterp:
    """`interp ARGS` started under `_HELD`: `reach("importing")` waits until the import of `holding` is held
    there, `release` lets it go on. `entry`: the console script's `module:function` (default) or "-m"."""

    def __init__(self, args, tmp_path: Path, env=None, hold_exit: bool = False, holding: str = "torch",
                 entry: str | None = None):
        self.marker = str(tmp_path / "held")
        argv = [sys.executable, "-c", _HELD, self.marker, holding, entry or console_entry(),
                *(["--hold-exit"] if hold_exit else []), *map(str, args)]
        self.child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env=dict(env or os.environ, PYTHONPATH=str(ROOT)), cwd=tmp_path,
                                      preexec_fn=hangup_as_in_a_session)

    def reach(self, point: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout  # only against a hang: nothing here is timed
        while not os.path.exists(f"{self.marker}.{point}"):
            assert self.child.poll() is None and time.monotonic() < deadline, self.child.communicate()
            time.sleep(0.02)

    def release(self, point: str) -> None:
        Path(f"{self.marker}.{point}.go").touch()

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        out, err = self.child.communicate(timeout=timeout)
        return self.child.returncode, out, err


@pytest.mark.parametrize("holding", ["interp_cli.stops", "click"])
@pytest.mark.parametrize("entry", [None, "-m"])
@pytest.mark.parametrize("sig, code, said", [(signal.SIGTERM, 143, "interp: terminated\n"),
                                             (signal.SIGINT, 130, "interp: interrupted\n"),
                                             (signal.SIGHUP, 129, "interp: hung up\n")])
def test_a_stop_while_the_command_itself_is_imported_exits_with_its_code_and_line(tmp_path, entry, sig, code, said,
                                                                                 holding):
    """The entry point holds stops from its first line: a SIGTERM while click and interp's modules loaded (the
    first ~0.1 s) ended the process by the signal (-15, no line), and a Ctrl-C raised in the import (a
    traceback, then a kill by SIGINT). Now the CLI's main acts on it as on any stop, before doing anything.
    Also inside the import of stops.py itself, which the entry point made before its hold (about 8 ms of an idle
    start, 20-80 ms of a loaded one): seen by stress_stops.py, a Ctrl-C 0.087 s after the start ended in Python's
    KeyboardInterrupt traceback. The user sees what a Ctrl-C a second later shows: the one line and exit 130."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    held = HeldInterp([ROOT / "examples/demo_a.png", ROOT / "examples/demo_b.png", "--weights", "demo",
                       "-o", out_dir / "m.gif"], tmp_path, dict(os.environ, HF_HUB_OFFLINE="1"), holding=holding,
                      entry=entry)
    held.reach("importing")
    held.child.send_signal(sig)
    held.release("importing")
    assert held.finish() == (code, "", said)
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("sig, code, said", [(signal.SIGTERM, 143, "interp: terminated"),
                                             (signal.SIGINT, 130, "interp: interrupted")])
def test_a_second_stop_while_exiting_changes_nothing(tmp_path, sig, code, said):
    """Slurm signals every process of a task and examples/slurm_array.sh's trap forwards another TERM: the
    second one, arriving while interp exits from the first, used to raise in an atexit callback ("Exception
    ignored in atexit callback ... Terminated") or, later in Python's shutdown, kill the process by the signal."""
    held = HeldInterp([ROOT / "examples/demo_a.png", ROOT / "examples/demo_b.png", "--weights", "demo",
                       "-o", tmp_path / "m.gif"], tmp_path, dict(os.environ, HF_HUB_OFFLINE="1"), hold_exit=True)
    held.reach("importing")
    held.child.send_signal(sig)
    held.release("importing")  # never reached: the signal ends the import
    held.reach("exiting")
    held.child.send_signal(sig)  # delivered at once: the callback is asleep, waiting for the file below
    held.release("exiting")
    returncode, out, err = held.finish()
    assert returncode == code, err
    assert err.strip().splitlines()[-1] == said and "Exception ignored" not in err and "Traceback" not in err, err
    assert not (tmp_path / "m.gif").exists()


@pytest.mark.parametrize("sig, code, said", [(signal.SIGTERM, 143, "interp: terminated\n"),
                                             (signal.SIGINT, 130, "interp: interrupted\n"),
                                             (signal.SIGHUP, 129, "interp: hung up\n")])
def test_a_stop_mid_morph_under_quiet_says_one_line_and_nothing_else(tmp_path, sig, code, said):
    """`-q` is errors only: a stop while frames are written leaves exactly its one line on stderr. Click
    printed an empty line before it (for the ^C a terminal echoes), into every log and under --json too."""
    child = subprocess.Popen([sys.executable, "-m", "interp_cli", str(ROOT / "examples/demo_a.png"),
                              str(ROOT / "examples/demo_b.png"), "--weights", "demo", "--steps", "5000", "-q",
                              "-o", "m.gif"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT)),
                             preexec_fn=hangup_as_in_a_session)
    deadline = time.monotonic() + 120  # only against a hang: nothing here is timed
    while not list(tmp_path.glob(".m.tmp-*")):  # the GIF's temp: frames are being written
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.02)
    child.send_signal(sig)
    out, err = child.communicate(timeout=120)
    assert (child.returncode, out, err) == (code, "", said)
    assert not (tmp_path / "m.gif").exists()


@pytest.mark.parametrize("own", [False, True])
def test_a_python_caller_of_main_gets_its_stops_and_its_handlers_back(tmp_path, own):
    """`cli.main([...])` in a script or service that goes on: its first call left SIGTERM and SIGHUP raising
    interp's Terminated for the rest of the process, and after a SIGTERM inside main both were ignored for good.
    A caller's own handlers were replaced meanwhile: a service's SIGTERM inside main became main's exit 143, and
    its shutdown handler never heard of it. Now a SIGTERM at its default action is main's (exit 143, no output),
    a caller's own handler gets its SIGTERM as it comes (the morph then ends as usual), and either way the
    caller's handlers are there when main returns, each working."""
    script = f"""
        import os, signal, sys, time
        from interp_cli import cli, pipeline
        got = []
        def mine(signum, frame):
            got.append(signum)
        if {own}:
            signal.signal(signal.SIGTERM, mine)
            signal.signal(signal.SIGHUP, mine)
        found = [signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)]
        real = pipeline.morph
        def stopped_inside(*args, **kwargs):  # a scheduler's stop as the morph starts
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
            return real(*args, **kwargs)
        pipeline.morph = stopped_inside
        for argv in (["--version"], [{str(ROOT / "examples/demo_a.png")!r}, {str(ROOT / "examples/demo_b.png")!r},
                                     "--weights", "demo", "--steps", "3", "-q", "-o", "m.gif"]):
            try:
                cli.main(argv)
            except SystemExit as done:
                print("exit", done.code, [signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)]
                      == found)
        if {own}:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.1)
        print("mine got", got)
    """
    done = _run(script, tmp_path, HF_HUB_OFFLINE="1")
    from interp_cli import __version__

    assert done.stdout.splitlines()[0] == f"interp, version {__version__}"
    if own:
        assert done.stdout.splitlines()[1:] == ["exit 0 True", "exit 0 True", "mine got [15, 1]"], done.stderr
        assert done.stderr == "" and [p.name for p in tmp_path.iterdir()] == ["m.gif"]
    else:
        assert done.stdout.splitlines()[1:] == ["exit 0 True", "exit 143 True", "mine got []"], done.stderr
        assert done.stderr == "interp: terminated\n"
        assert list(tmp_path.iterdir()) == []  # no GIF, no temp


# `stops.import_pipeline` in a fresh process, then what Python's garbage collector did: the collections run per
# generation during the import, whether it is on, how many objects are frozen, and whether a cycle made after
# the import is still collected.
_COLLECTOR = """
import gc, json, sys, weakref
mode = sys.argv[1]
if mode == "command":
    from interp_cli import malloc
    malloc.freeze_imports_here()  # as the command does for its own process (cli.run)
elif mode == "library":
    import interp_cli.pipeline  # a Python program that imported the pipeline itself
elif mode == "off":
    gc.disable()
from interp_cli import stops
before = [row["collections"] for row in gc.get_stats()]
stops.import_pipeline()
during = [row["collections"] - was for row, was in zip(gc.get_stats(), before)]
class Node:
    pass
cycle = Node(); cycle.me = cycle; alive = weakref.ref(cycle); del cycle
gc.collect()
print(json.dumps({"during": during, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "cycle_collected": alive() is None}))
"""


def _collector(mode: str) -> dict:
    import json

    done = subprocess.run([sys.executable, "-c", _COLLECTOR, mode], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_commands_import_of_torch_runs_no_collection_and_freezes_what_it_made():
    # torch's ~170 thousand long-lived objects were walked by collections during the import and by every full
    # collection after it (release_encoder's): ~0.2 s of a cold morph, for objects that live until exit.
    seen = _collector("command")
    # (A young collection may run as the collector comes back on: frozen, torch's objects are not in it.)
    assert seen["during"][1:] == [0, 0], seen
    assert seen["frozen"] > 50_000, seen  # torch's modules, classes and functions: no later collection walks them
    assert seen["enabled"] and seen["cycle_collected"], seen  # and what the morph makes is collected as before


@pytest.mark.parametrize("mode", ["caller", "library", "off"])
def test_a_python_callers_collector_is_left_as_it_was(mode):
    # A program that runs the CLI's commands in its own process (cli.main, whose commands import the pipeline
    # through stops.import_pipeline) or imported the pipeline itself freezes none of its objects: frozen, its
    # cyclic garbage of that moment would never be collected. One that turned the collector off keeps it off.
    seen = _collector(mode)
    assert seen["frozen"] == 0, seen
    assert seen["enabled"] is (mode != "off"), seen


_CALLERS_SHUTDOWN = """
import signal, sys
from interp_cli import cli

class Shutdown(Exception):
    pass

def mine(signum, frame):
    raise Shutdown(f"signal {signum}")

signal.signal(signal.SIGTERM, mine)
try:
    cli.main(sys.argv[1:])
except Shutdown as own:
    print("caught", repr(own), signal.getsignal(signal.SIGTERM) is mine)
except SystemExit as done:
    print("exit", done.code)
"""


def _sigterm_mid_write(tmp_path, args):
    """`interp ARGS` run by a Python caller whose own SIGTERM handler raises (`_CALLERS_SHUTDOWN`), sent a real
    SIGTERM once the GIF's temp exists (frames are being written): (the process, its stdout, its stderr)."""
    child = subprocess.Popen([sys.executable, "-c", _CALLERS_SHUTDOWN, *args], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, preexec_fn=hangup_as_in_a_session,
                             env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 120  # only against a hang: nothing here is timed
    while not list(tmp_path.rglob(".m.tmp-*")):
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.02)
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=120)
    return child, out, err


@pytest.mark.parametrize("command", ["morph", "batch"])
def test_a_python_callers_own_exception_from_its_sigterm_handler_reaches_it(tmp_path, command):
    """A service's SIGTERM handler that raises its own `Shutdown(Exception)` while `cli.main([...])` morphed: interp
    caught it as any other exception, said "interp: internal error: Shutdown: signal 15" and exited 1 (a batch
    failed the row and went on to the next). The exception is the caller's: it now leaves main as raised, with the
    caller's handler back, nothing said on stderr, and no output or temp left (a real SIGTERM, mid-write)."""
    demo = [str(ROOT / "examples/demo_a.png"), str(ROOT / "examples/demo_b.png")]
    if command == "morph":
        args = [*demo, "--weights", "demo", "--steps", "5000", "-q", "-o", "m.gif"]
    else:
        (tmp_path / "rows.csv").write_text(f"{demo[0]},{demo[1]},m.gif\n{demo[1]},{demo[0]},n.gif\n")
        args = ["batch", "rows.csv", "--outdir", "out", "--weights", "demo", "--steps", "5000", "-q"]
    child, out, err = _sigterm_mid_write(tmp_path, args)
    assert (child.returncode, out, err) == (0, "caught Shutdown('signal 15') True\n", "")
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == ([] if command == "morph" else ["rows.csv"])  # a batch's --outdir made for no row made: gone


_CUT_AS_PUT_BACK = """
import _signal, json, os, signal, sys
from interp_cli.cli import main

class Shutdown(Exception):
    pass

def mine(signum, frame):
    raise Shutdown()

def hup(signum, frame):
    pass

signal.signal(signal.SIGTERM, mine)
signal.signal(signal.SIGHUP, hup)
wrapped = []

def profile(frame, event, arg):
    # The moment main has put the caller's SIGTERM handler back (it had wrapped it): a real SIGTERM, sent at once,
    # before main puts SIGHUP's back. A profile function sees each return from a C function: the exact moment.
    if event != "c_return" or arg is not _signal.signal:
        return
    if type(signal.getsignal(signal.SIGTERM)).__name__ == "_CallersHandler":
        wrapped.append(True)
    elif wrapped and signal.getsignal(signal.SIGTERM) is mine:
        sys.setprofile(None)
        os.kill(os.getpid(), signal.SIGTERM)

sys.setprofile(profile)
try:
    main(["--version"])
    ended = "returned"
except SystemExit as done:
    ended = f"exit {done.code}"
except Shutdown:
    ended = "Shutdown"
sys.setprofile(None)
print(json.dumps([ended, signal.getsignal(signal.SIGTERM) is mine, signal.getsignal(signal.SIGHUP) is hup,
                  signal.getsignal(signal.SIGINT) is signal.default_int_handler]))
"""


def test_a_stop_that_comes_as_main_puts_the_handlers_back_leaves_every_handler_the_callers(tmp_path):
    """A Python caller's SIGTERM landing just as `handlers_given_back` had put its handler back: the handler's
    Shutdown cut the restoring loop short, and SIGHUP kept interp's handler in the caller's process (its next
    SIGHUP raised HungUp into whatever it did). Every handler is now back first, then the Shutdown reaches the
    caller, in place of main's exit. A real SIGTERM, sent at that exact moment."""
    done = subprocess.run([sys.executable, "-c", _CUT_AS_PUT_BACK], cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT)), timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == ["Shutdown", True, True, True]


def test_a_batch_stopped_by_a_python_callers_own_sigterm_handler_still_closes_its_json_log(tmp_path):
    """`interp batch --json` under `cli.main([...])`: a SIGTERM whose caller's handler raised `Shutdown` mid-row ended
    the batch with no closing summary line, where Ctrl-C or interp's own SIGTERM prints one ("stopped": true). A
    script reading the log's last line found a row, or nothing. Now the summary is printed, then the exception
    still reaches the caller (a real SIGTERM, mid-write)."""
    demo = [str(ROOT / "examples/demo_a.png"), str(ROOT / "examples/demo_b.png")]
    (tmp_path / "rows.csv").write_text(f"{demo[0]},{demo[1]},m.gif\n{demo[1]},{demo[0]},n.gif\n")
    args = ["batch", "rows.csv", "--outdir", "out", "--weights", "demo", "--steps", "5000", "-q", "--json"]
    child, out, err = _sigterm_mid_write(tmp_path, args)
    assert (child.returncode, err) == (0, ""), err
    *logged, caught = out.splitlines()
    assert caught == "caught Shutdown('signal 15') True"
    assert len(logged) == 1, out  # the first row never ended, so its line is not there: only the summary
    summary = json.loads(logged[0])
    assert summary["summary"] is True and summary["stopped"] is True, summary
    assert (summary["rows"], summary["made"], summary["failed"]) == (2, 0, 0), summary
    assert not (tmp_path / "out").exists()  # no temp, and the --outdir it made for no row made is gone with it


# A weakref callback that sends the process a real stop signal and runs on until its handler has run inside it:
# where Python can only print what a handler raises ("Exception ignored in: <function ... cb>") and goes on. The
# import system's module-lock callbacks run so after every import, and a writer's first frames import plugins.
_STOP_IN_A_CALLBACK = """
import os, signal, sys, weakref
from interp_cli import frame_writer
from interp_cli.__main__ import main

SIGNAL, AT_FRAME = int(sys.argv[1]), 2
write = frame_writer.FrameWriter.write

def stop_in_a_callback(self, frame):
    if self.frames_written == AT_FRAME:
        class Thing:
            pass
        def callback(ref):
            os.kill(os.getpid(), SIGNAL)
            for _ in range(200_000):  # the handler runs between two of these bytecodes, inside the callback
                pass
        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing  # the callback runs here
    return write(self, frame)

frame_writer.FrameWriter.write = stop_in_a_callback
sys.argv = ["interp", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize("sig, code, said", [(signal.SIGTERM, 143, "interp: terminated"),
                                             (signal.SIGINT, 130, "interp: interrupted"),
                                             (signal.SIGHUP, 129, "interp: hung up")])
@pytest.mark.parametrize("command", ["morph", "batch"])
def test_a_stop_whose_handler_runs_inside_a_weakref_callback_still_stops_the_run(tmp_path, command, sig, code, said):
    """Seen in CI: `interp batch` sent SIGHUP mid-row printed "Exception ignored in: <function
    _get_module_lock.<locals>.cb>" with the HungUp traceback, wrote both rows and exited 0 (the handler had set
    the other stop signals to be ignored, so the stop was lost for good). Now the next frame ends the run as any
    stop does: its exit code and one line, no output, no temp, nothing printed of the callback."""
    demo = [str(ROOT / "examples/demo_a.png"), str(ROOT / "examples/demo_b.png")]
    if command == "batch":
        (tmp_path / "pairs.csv").write_text(f"{demo[0]},{demo[1]},one.gif\n{demo[0]},{demo[1]},two.gif\n")
        args = ["batch", "pairs.csv", "--outdir", "out", "--json"]
    else:
        args = [*demo, "-o", "out/m.gif"]
        (tmp_path / "out").mkdir()
    child = subprocess.run([sys.executable, "-c", _STOP_IN_A_CALLBACK, str(int(sig)), *args, "--weights", "demo",
                            "--steps", "6"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT)),
                           preexec_fn=hangup_as_in_a_session)
    assert child.returncode == code, child.stderr
    assert child.stderr.strip().splitlines()[-1] == said, child.stderr
    assert "Exception ignored" not in child.stderr and "Traceback" not in child.stderr, child.stderr
    left = sorted(p.name for p in (tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else []
    assert left == [], left  # no GIF, no second row, no temp
    if command == "batch":
        assert json.loads(child.stdout.splitlines()[-1])["stopped"] is True, child.stdout


_STOP_IN_A_BARE_EXCEPT = """
import copy, os, signal, sys
from interp_cli.__main__ import main

SIGNAL = int(sys.argv[1])
deepcopy = copy.deepcopy

def stop_in_a_bare_except(thing, memo=None, _nil=[]):
    if type(thing).__name__ == "Generator" and memo is None:  # tuning's copy of the generator, as it starts
        try:  # as copyreg._slotnames does around `cls.__slotnames__ = names`, run at every deepcopy of a set
            os.kill(os.getpid(), SIGNAL)
            for _ in range(200_000):  # the handler runs between two of these bytecodes, inside the try
                pass
        except:  # noqa: E722
            pass
    return deepcopy(thing, memo)

copy.deepcopy = stop_in_a_bare_except
sys.argv = ["interp", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize("sig, code, said", [(signal.SIGTERM, 143, "interp: terminated"),
                                             (signal.SIGHUP, 129, "interp: hung up"),
                                             (signal.SIGINT, 130, "interp: interrupted")])
def test_a_stop_swallowed_by_a_bare_except_still_stops_a_tuning_run(tmp_path, sig, code, said):
    """A run held by SIGSTOP as it began tuning, then sent SIGTERM and SIGCONT, tuned on and exited 0, in about 1
    of 3 tries: the handler ran inside copyreg._slotnames' bare `except:` (every deepcopy of a set runs it, and
    tuning deep-copies the generator), which swallowed the Terminated, and later stops were ignored. Now the next
    tuning step ends the run as any stop does: its exit code and one line, no output, no tuned entry. The first
    Ctrl-C alike: Python's own handler kept nothing, so the run tuned on until a second one."""
    demo = [str(ROOT / "examples/demo_a.png"), str(ROOT / "examples/demo_b.png")]
    (tmp_path / "out").mkdir()
    child = subprocess.run([sys.executable, "-c", _STOP_IN_A_BARE_EXCEPT, str(int(sig)), *demo, "-o", "out/m.gif",
                            "--weights", "demo", "--steps", "3", "--tune", "20"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=240, preexec_fn=lambda: (hangup_as_in_a_session(), ctrl_c_as_typed()),
                           env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT),
                                    INTERP_CACHE_DIR=str(tmp_path / "cache")))
    assert child.returncode == code, child.stderr
    assert child.stderr.strip().splitlines()[-1] == said, child.stderr
    assert "tuning: 20/20" not in child.stderr and "Traceback" not in child.stderr, child.stderr
    assert sorted((tmp_path / "out").iterdir()) == []
    assert not list((tmp_path / "cache").glob("tuned/*.pt")), "no tuned weights were finished to keep"


def test_a_python_callers_unraisablehook_is_its_own_again_after_main(tmp_path, monkeypatch):
    """main keeps stops that a callback swallowed through `sys.unraisablehook` while it runs, and gives the
    caller's hook back after, as it gives back the signal handlers."""
    from interp_cli.cli import main

    def callers_hook(unraisable):
        pass

    monkeypatch.setattr(sys, "unraisablehook", callers_hook)
    with pytest.raises(SystemExit) as done:
        main(["align", "--help"])
    assert done.value.code in (0, None)
    assert sys.unraisablehook is callers_hook


def test_a_callers_own_stop_raised_inside_a_weakref_callback_still_reaches_it(tmp_path):
    """The same for a Python caller's own SIGTERM handler: its exception, raised inside a weakref callback, was
    printed ("Exception ignored ... CallersStop") and the morph ran to its end; now it leaves main as raised."""
    demo = [str(ROOT / "examples/demo_a.png"), str(ROOT / "examples/demo_b.png")]
    script = _STOP_IN_A_CALLBACK.replace("main()\n", "") + _CALLERS_SHUTDOWN.replace(
        "cli.main(sys.argv[1:])", "cli.main(sys.argv[1:])\n    print('finished')")
    done = subprocess.run([sys.executable, "-c", script, str(int(signal.SIGTERM)), *demo, "--weights", "demo",
                           "--steps", "6", "-q", "-o", "m.gif"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT)))
    assert (done.returncode, done.stdout, done.stderr) == (0, "caught Shutdown('signal 15') True\n", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_stop_as_cli_words_are_set_leaves_a_python_callers_messages_in_its_words(tmp_path):
    """A Python caller's SIGTERM handler raising its own exception as `main([...])` began, once its messages were
    set to name options as flags but before the block that sets them back (a real SIGTERM, landing as the context
    variable is set): the caller's thread went on speaking CLI, its later library errors naming `--fps 0` where it
    had passed `fps=0`. Now the stop leaves its words as they were."""
    from interp_cli import errors
    from interp_cli.cli import cli
    from tests.races import Stopped, stop_inside

    args = ["render", str(tmp_path / "a.npy"), "--weights", "demo", "-o", str(tmp_path / "a.png"), "-q"]
    with stop_inside(errors._CLI_WORDS, "set"), pytest.raises(Stopped):
        cli.main(args)
    assert errors.option("fps", 0) == "fps=0"


def test_a_stop_as_a_batch_rows_crops_are_planned_leaves_the_callers_next_morph_its_own():
    """A stop landing as a batch row's planned --save-aligned crops were set for its morph, before the block that
    takes them back (a real SIGTERM, landing as the context variable is set): a Python caller that caught it and
    then morphed with `save_aligned=` of its own in that thread had its crops written to the stopped row's planned
    names instead. Now no plan is left."""
    from interp_cli import pipeline
    from tests.races import Stopped, stop_inside

    with stop_inside(pipeline._PLANNED_CROPS, "set"), pytest.raises(Stopped):
        with pipeline.planned_crops([Path("out/row1/a_aligned.png"), None]):
            pytest.fail("the block ran")
    assert pipeline._PLANNED_CROPS.get() is None


def test_a_stop_as_deferred_takes_the_signals_leaves_each_its_handler():
    """`deferred` takes the stop signals one after another; a SIGTERM (here a Python caller's handler raising its own
    exception) landing once SIGINT was taken, before the block could put it back, left SIGINT with the block's
    noting handler for good: every later Ctrl-C was noted in a list no one read, and the process ignored it. Now
    each signal has its handler back (a real SIGTERM, landing as SIGINT is taken)."""
    from tests.races import Stopped, stop_inside

    before = signal.getsignal(signal.SIGINT)
    try:
        with stop_inside(signal, "signal", lambda signum, handler: signum == signal.SIGINT and handler is not before), \
                pytest.raises(Stopped):
            with deferred():
                pytest.fail("the block ran")
        assert signal.getsignal(signal.SIGINT) is before
        with pytest.raises(KeyboardInterrupt):  # and Ctrl-C interrupts as before
            signal.raise_signal(signal.SIGINT)
            for _ in range(1_000_000):
                pass
    finally:
        signal.signal(signal.SIGINT, before)  # for the tests after this one, whatever it found


def test_a_stop_as_deferred_gives_the_signals_back_leaves_none_held():
    """`deferred` puts the stop signals' handlers back one after another; a Ctrl-C (here a handler raising) landing
    once SIGINT's was back, before SIGTERM's was, left SIGTERM with the block's noting handler for good: every later
    SIGTERM was noted in a list no one read, and the process could no longer be terminated (a notebook interrupted
    mid-morph, then shut down). Now a signal whose handler was not put back yet still acts as that handler (a real
    SIGINT, landing as SIGINT's handler is back)."""
    from tests.races import Stopped, stop_inside

    before = signal.getsignal(signal.SIGTERM)

    class Terminate(Exception):
        pass

    def caller(signum, frame):
        raise Terminate()

    signal.signal(signal.SIGTERM, caller)
    try:
        with stop_inside(signal, "signal", lambda signum, handler: signum == signal.SIGINT and
                         getattr(handler, "__name__", "") != "note", signum=signal.SIGINT), pytest.raises(Stopped):
            with deferred():
                pass
        with pytest.raises(Terminate):  # SIGTERM reaches its handler as before
            signal.raise_signal(signal.SIGTERM)
            for _ in range(1_000_000):
                pass
        assert signal.getsignal(signal.SIGTERM) is caller
    finally:
        signal.signal(signal.SIGTERM, before)


# A development script under `run_script` whose temp folder (`script_temp`) holds a mount point, which no rmtree
# removes (EBUSY): run in a mount namespace of its own, so the mount goes with it.
_SCRIPT_WITH_A_MOUNT_INSIDE = """
import subprocess, sys, time
from interp_cli.stops import run_script, script_temp

def main():
    with script_temp("stopped-") as temp:
        (temp / "m").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "none", str(temp / "m")], check=True)
        print(temp, flush=True)
        time.sleep(60)

sys.exit(run_script(main, "script"))
"""


@pytest.mark.skipif(subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0,
                    reason="needs a mount namespace (root)")
def test_a_stopped_script_says_where_its_temporary_files_are_left_when_it_could_not_remove_them(tmp_path):
    """`run_script` said "its temporary files were removed" on every stop, whether they were or not (the scripts
    audit saw 14,002 files of a venv left under it). A folder made by `script_temp` is checked: where one is left,
    the line says where."""
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    script = subprocess.Popen(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                               _SCRIPT_WITH_A_MOUNT_INSIDE], env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        temp = script.stdout.readline().strip()
        script.send_signal(signal.SIGTERM)  # unshare execs: the script itself
        _, err = script.communicate(timeout=60)
    finally:
        script.kill()
        script.wait()
    assert script.returncode == 143, err
    assert err.splitlines() == [f"script: terminated; its temporary files are still in {temp}"]
    assert [p.name for p in Path(temp).iterdir()] == ["m"]  # the mount point, now an empty folder


def test_a_script_child_that_runs_past_its_timeout_is_ended_and_what_it_wrote_is_kept():
    """fuzz_options judges a case that ran past `--timeout` by what it had printed, as `subprocess.run` gives it on
    its TimeoutExpired (text, with `text=True`). `run_child`'s carried the raw bytes read so far, which the fuzzer's
    `str()` made into "b'...'". Now it carries the text, all of it, read once the child's group has ended."""
    from interp_cli.stops import run_child

    code = ("import subprocess, sys, time; print('begun', flush=True); print('warned', file=sys.stderr, flush=True);"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)")
    with pytest.raises(subprocess.TimeoutExpired) as late:
        run_child([sys.executable, "-c", code], capture_output=True, text=True, timeout=3)
    assert (late.value.stdout, late.value.stderr) == ("begun\n", "warned\n")


def test_a_sigterm_held_in_a_python_callers_process_that_never_handles_it_still_ends_the_process(tmp_path):
    """A Python caller that imports interp without its CLI keeps SIGTERM's default action. One that comes while interp
    holds the stops (an ffmpeg being started, a temp being made) must end that process once the block is over, by
    the signal, as it would have without the hold: not be dropped, the caller's program going on as if never sent."""
    done = _run("""
        import os, signal
        from interp_cli.stops import deferred
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            print("held", flush=True)
        print("went on", flush=True)
    """, tmp_path)
    assert (done.returncode, done.stdout) == (-signal.SIGTERM, "held\n"), done.stderr


def test_a_second_stop_while_a_scripts_children_are_ended_kills_them_at_once_and_still_stops_the_script(tmp_path):
    """`end_groups` waits up to its grace for a child that ignores SIGTERM; a Ctrl-C meanwhile (after `timeout`'s
    SIGTERM) kills it at once and is then raised, so the script stops instead of going on as if its children had
    simply ended."""
    done = _run("""
        import os, signal, subprocess, threading, time
        from interp_cli.stops import end_groups, start_child
        child = start_child(["sh", "-c", "trap '' TERM; echo ready; exec sleep 60"], stdout=subprocess.PIPE)
        child.stdout.readline()
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        started = time.monotonic()
        try:
            end_groups([child], grace=30)
        except KeyboardInterrupt:
            print("stopped", time.monotonic() - started < 15, child.returncode, flush=True)
        else:
            print("went on", flush=True)
        try:
            os.killpg(child.pid, 0)
        except ProcessLookupError:
            print("group gone")
    """, tmp_path)
    assert done.stdout == f"stopped True {-signal.SIGKILL}\ngroup gone\n", done.stderr


def test_a_scripts_exit_status_is_what_its_main_returns_and_0_for_none(tmp_path):
    for returned, code in (("None", 0), ("0", 0), ("3", 3)):
        done = _run(f"""
            import sys
            from interp_cli.stops import run_script
            sys.exit(run_script(lambda: {returned}, "script"))
        """, tmp_path)
        assert (done.returncode, done.stderr) == (code, ""), returned


def test_a_benchmarks_child_is_waited_for_and_gives_its_exit_status_and_peak_memory():
    """`wait_usage` is how the benchmark scripts read a child's peak RSS: it waits for the child to end, and both its
    status and its memory are the child's, not a still-running child's zeros."""
    from interp_cli.stops import start_child, wait_usage

    child = start_child([sys.executable, "-c", "import time; held = bytearray(80_000_000); time.sleep(0.3); "
                                               "raise SystemExit(3)"])
    usage = wait_usage(child)
    assert child.returncode == 3 and usage.ru_maxrss > 80_000  # kB on Linux


def test_after_the_first_sigterm_later_sigterms_and_sighups_change_nothing(tmp_path):
    """One stop is enough (Slurm and parallel send a second TERM): once the first has raised, later ones while the
    process unwinds (its cleanup, a batch's closing summary) are ignored, not raised into the middle of it."""
    done = _run("""
        import os, signal, time
        from interp_cli.stops import Terminated, raise_on_sigterm
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        raise_on_sigterm()
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except Terminated:
            print("stopping", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.2)
            print("cleaned up", flush=True)
    """, tmp_path)
    assert (done.returncode, done.stdout) == (0, "stopping\ncleaned up\n"), done.stderr


def test_an_error_python_can_only_print_while_main_runs_still_reaches_the_hook_that_was_there(tmp_path):
    """While the CLI's main runs, `sys.unraisablehook` keeps a stop raised in a `__del__` for later; anything else
    raised there (a library's own bug in a finalizer) is still printed by the hook that was there, as it was."""
    done = _run("""
        import sys
        from interp_cli.stops import raise_on_sigterm
        seen = []
        sys.unraisablehook = lambda unraisable: seen.append(repr(unraisable.exc_value))
        raise_on_sigterm()

        class Finalized:
            def __del__(self):
                raise ValueError("boom")

        Finalized()
        print(*seen, flush=True)
    """, tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ValueError('boom')\n", "")
