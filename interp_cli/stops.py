"""Stop signals, defined once: SIGTERM unwinds like Ctrl-C, and the few steps that must not be cut in two hold both.

    hold_stops_at_start()     # (stops_at_start.py) the command's first line: a stop is noted, not fatal...
    raise_on_sigterm()        # ...until the CLI's main: then SIGTERM raises Terminated (a KeyboardInterrupt), once
    with handlers_given_back():   # around main: a Python caller of it gets its own handlers back
    with deferred():          # SIGINT/SIGTERM arriving inside are delivered when the block ends
        proc = subprocess.Popen(...)
    pipeline = import_pipeline()  # interp_cli.pipeline (and torch), imported whole, then the stop

SIGHUP (the terminal or ssh session a run was started from closed; bash passes it on to its background
jobs) is a stop as SIGTERM is, raising `HungUp` (exit 129), unless it is ignored, as `nohup` does.

Why `deferred` exists: a signal's Python handler runs in the main thread between any two bytecodes,
so Ctrl-C can land inside `subprocess.Popen` after ffmpeg was forked but before the Popen object
was returned. The writer then has no process to kill; it removes its temp file, and the orphaned
ffmpeg (its own session, so the signal never reached it) sees end of input and writes an empty MP4
under the temp's name afterwards. Holding the signal for those few lines makes the writer's
state whole before it unwinds. The same holds for creating a temp (file made, not yet recorded as
ours) and for throwing one away (parallel's default --termseq sends a second TERM 200 ms after
the first, which used to cut the first one's cleanup short).

One stop is enough: the first SIGTERM already unwinds the process towards exit 143, so later ones
are ignored (Slurm signals every process of a task and examples/slurm_array.sh's trap forwards a
second TERM; parallel's default --termseq sends two). A second Terminated would otherwise cut the
unwinding short, anywhere outside a `deferred` block: the batch's closing JSON summary, or an atexit
callback ("Exception ignored ... Terminated"). `ignore_stops` does the same for both signals once the
process only has to exit: Python's shutdown resets a handled signal to its default action, so a late
TERM there killed the process by the signal (its parent saw -15, not 143).

Why `hold_stops_at_start` exists: until a handler is set, SIGTERM's default action ends the process by the
signal (its parent sees -15, not 143), and Ctrl-C raises in the middle of an import (a traceback, then a
kill by SIGINT). Importing the command (click and interp's own modules, this one too) takes about 0.1 s on an idle
2-core machine and several times that on a loaded one, so the entry point holds all three stops from its first line,
before it imports anything of interp's (stops_at_start.py, which imports only the built-in `_signal`), and
`raise_on_sigterm`, inside main's handling of stops, acts on one that came meanwhile. What is left is the
interpreter's own start-up, before any of interp's code runs.

Why `raise_swallowed` exists: a handler runs between any two bytecodes, also inside a weakref callback or a
`__del__` (the import system's module-lock callbacks run right after an import, a writer's first frames import
plugins), where Python can only print what it raises ("Exception ignored in: <function ... cb>") and goes on. The
stop was then lost for good (the handler had already set the other stop signals to be ignored): seen in CI, a
batch sent SIGHUP mid-row wrote both rows and exited 0. While the CLI's main runs, `sys.unraisablehook` keeps
such a stop instead of printing it, and the next frame written (`FrameWriter.write`) or row started raises it.

The same list keeps every SIGTERM or SIGHUP the handler raised, for the same reason: a bare `except:` where it lands
(the standard library's copyreg has one, under every deepcopy of a set) swallowed it, and with later ones ignored a
stopped run went on to the end and exited 0. `raise_swallowed` is also called at each step of tuning and refining.
A command's first Ctrl-C is kept alike (`_raise_interrupted`, in place of Python's own handler while main runs):
swallowed there, it was lost, and the run went on until the user pressed Ctrl-C again.

Handlers are Python-level and only the main thread can set them: in other threads the block just
runs (no KeyboardInterrupt lands there anyway), and so it does where a stop signal's handler was set
outside Python (an embedding program's), which could not be put back.

The CLI's main may also run in a Python caller's process (`cli.main([...])`, click's CliRunner): a SIGTERM or
SIGHUP that the caller handles with its own function stays the caller's, and `handlers_given_back` puts back
whatever main changed when it returns. What that function raises is the caller's too: an ordinary exception
(a service's `Shutdown(Exception)`) is carried through interp as a stop (`CallersStop`, which no `except
Exception` of interp's catches, so no row or command reports it as its own failure, and every temp is cleaned as
for any stop) and raised as it was out of `handlers_given_back`, so out of main.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from types import ModuleType

from interp_cli import stops_at_start

# SIGHUP: the terminal or ssh session a batch was started from went away (bash passes it on to its jobs).
_SIGHUP = getattr(signal, "SIGHUP", None)  # not on Windows
STOP_SIGNALS = tuple(map(signal.Signals, stops_at_start.STOP_SIGNALS))
_depth = 0  # nesting of `deferred` blocks in the main thread
_held_at_start = stops_at_start.held  # signal -> the handler it had, while `hold_stops_at_start` holds it
_came_at_start = stops_at_start.came  # the stop signals that arrived meanwhile, in order
_note_at_start = stops_at_start.note_at_start
_swallowed: list[BaseException] = []  # stops raised where Python could only print them (`raise_swallowed`)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch scheduler stopping the job): unwinds like Ctrl-C so no partial output is left."""


class HungUp(Terminated):
    """SIGHUP (the session closed under a run, without nohup): unwinds as SIGTERM does; exit 129."""


class CallersStop(BaseException):
    """A Python caller's own stop-signal handler raised `.error` (an ordinary exception) while the CLI's main ran:
    unwinds interp past its `except Exception`s (a batch row's, the command's "internal error") with its temps
    cleaned as for any stop, and `handlers_given_back` raises `.error` itself to the caller."""

    def __init__(self, error: Exception):
        super().__init__(error)
        self.error = error


# What stops a run, as opposed to failing it: Ctrl-C and interp's own stops (KeyboardInterrupt), and a Python
# caller's handler's exception carried as `CallersStop`. A batch stopped by either says so in its summary.
STOPS = (KeyboardInterrupt, CallersStop)


class _CallersHandler:
    """The caller's own handler of a stop signal, as `raise_on_sigterm` leaves it in place: called as it is, and
    an ordinary exception it raises is carried out of interp as `CallersStop`. BaseExceptions it raises
    (KeyboardInterrupt, SystemExit) are left as they are: interp already unwinds on those."""

    def __init__(self, handler):
        self.handler = handler

    def __call__(self, signum, frame):
        try:
            self.handler(signum, frame)
        except Exception as error:
            raise CallersStop(error) from None


def _raise_terminated(signum, frame):
    for each in STOP_SIGNALS[1:]:  # once, whichever came first: see the module doc
        if signal.getsignal(each) is _raise_terminated:
            signal.signal(each, signal.SIG_IGN)
    stop = HungUp() if signum == _SIGHUP else Terminated()
    # Kept for `raise_swallowed` too: the handler may land inside a bare `except:` that swallows what it raises, and
    # later stops are now ignored. copyreg._slotnames has one, run at every deepcopy of a set (tuning's copy of the
    # generator): a run SIGTERMed there tuned on and exited 0, in about 1 of 3 tries. Unwound as usual, the stop
    # ends the run before any `raise_swallowed` (a frame, a row, a tuning step) is reached again.
    if not _swallowed:
        _swallowed.append(stop)
    raise stop


def _raise_interrupted(signum, frame):
    """SIGINT while the CLI's main runs, where Python's own handler had it: the same KeyboardInterrupt, also kept for
    `raise_swallowed`. Python's handler left nothing behind, so a Ctrl-C landing in copyreg's bare `except:` (tuning's
    deepcopy of the generator) was lost and the run tuned on until the user pressed Ctrl-C again. A second Ctrl-C
    still raises (a user pressing it again means it); the first one kept is the one raised later."""
    stop = KeyboardInterrupt()
    if not _swallowed:
        _swallowed.append(stop)
    raise stop


def _left_to_its_owner(signum: int) -> bool:
    """Whether a stop signal's handler is someone else's, which `raise_on_sigterm` leaves in place: one set outside
    Python (None: it could not be put back), or a Python caller's own function. A service that runs the CLI's
    `main([...])` in its process and shuts down on SIGTERM must get its SIGTERM: taken over, it became main's
    exit 143, which the caller caught as main's SystemExit (CliRunner does) and went on as if never stopped."""
    handler = signal.getsignal(signum)
    return handler is None or (callable(handler) and
                               handler not in (_note_at_start, _raise_terminated, _raise_interrupted))


def _carry_callers(signum: int) -> None:
    """Wrap a caller's own Python handler of `signum` (`_CallersHandler`); one set outside Python is left."""
    handler = signal.getsignal(signum)
    if callable(handler) and not isinstance(handler, _CallersHandler):
        signal.signal(signum, _CallersHandler(handler))


def _keep_swallowed_stops(unraisable) -> None:
    """`sys.unraisablehook` while the CLI's main runs: a stop (KeyboardInterrupt, Terminated, HungUp, or a caller's
    own handler's exception carried as `CallersStop`) raised inside a weakref callback or `__del__` is kept for
    `raise_swallowed`, not printed; anything else goes on to the hook that was there."""
    if isinstance(unraisable.exc_value, (KeyboardInterrupt, CallersStop)):
        if not _swallowed:
            _swallowed.append(unraisable.exc_value)
        return
    _hook_found[0](unraisable)


_hook_found = [sys.unraisablehook]


def raise_swallowed() -> None:
    """Raise the stop that a handler raised where Python could only print it or a bare `except:` swallowed it (see
    the module doc), if one was: called where a run's work goes on (each frame written, each batch row, each step of
    tuning or refining), so a lost stop costs one frame or step."""
    if _swallowed:
        stop = _swallowed.pop()
        _swallowed.clear()
        raise stop.with_traceback(None)


def stop_exit_code(stop: KeyboardInterrupt) -> int:
    """The exit status a stop ends a command with: 129 hung up, 143 terminated, 130 interrupted (Ctrl-C)."""
    return 129 if isinstance(stop, HungUp) else 143 if isinstance(stop, Terminated) else 130


def run_script(main: Callable[[], int | None], name: str) -> int:
    """Run a development script's `main` (tools/, benchmarks/) with SIGTERM and SIGHUP unwinding as Ctrl-C does, so
    that its `finally` blocks and temporary directories clean up: killed by the signal, benchmarks/bench.py left
    its 1.2 GB checkpoint in the temp folder and tools/check_wheel.py its venv. A stop is one line on stderr,
    `NAME: terminated`, and its exit status (`stop_exit_code`)."""
    raise_on_sigterm()
    try:
        return main() or 0
    except KeyboardInterrupt as stop:
        code = stop_exit_code(stop)
        said = {129: "hung up", 143: "terminated"}.get(code, "interrupted")
        left = [path for path in _script_temps if os.path.lexists(path)]  # each `script_temp` says for itself
        done = f"its temporary files are still in {left[0]}" if left else "its temporary files were removed"
        print(f"{name}: {said}; {done}", file=sys.stderr)
        return code


# A development script's children and temp folders: a stopped script ends its children, waits for them, then
# removes their files. `subprocess.run` kills only the child it started, with SIGKILL, and that child's own
# children go on: stopped during `python -m venv`, tools/check_wheel.py removed its temp folder and said so
# while the venv's ensurepip (the grandchild) went on installing pip into it, and exited leaving it running.
_script_temps: list[str] = []  # every `script_temp` made in this process, for `run_script`'s message


def start_child(cmd: list, into: list | None = None, **kwargs) -> subprocess.Popen:
    """`subprocess.Popen(cmd, **kwargs)` as the leader of a process group of its own, which `end_group` ends whole
    (its children's children too), appended to `into` in the same breath. Its own group keeps the terminal's Ctrl-C
    and `timeout`'s group signal from reaching it behind its parent's back: the parent's stop ends it, once, and
    waits for it. A stop that comes as it starts ends it here: the caller never got it to end."""
    child = None
    try:
        with deferred():  # held over the fork: the child is ours (and in `into`) before a stop acts
            child = subprocess.Popen([str(c) for c in cmd], start_new_session=True, **kwargs)
            if into is not None:
                into.append(child)
    except BaseException:
        if child is not None:
            end_group(child)
        raise
    return child


def end_group(child: subprocess.Popen, grace: float = 10.0) -> None:
    """End `child`'s process group (`start_child`): see `end_groups`."""
    end_groups([child], grace)


def end_groups(children: list[subprocess.Popen], grace: float = 10.0) -> None:
    """End each child's process group (`start_child`), all at once: SIGTERM, so that an `interp` there cleans up
    as it does when stopped, SIGKILL to what is left after `grace` seconds (a namespace's init ignores SIGTERM),
    and return once no process of any group is left, each child reaped. A second stop meanwhile (a Ctrl-C after
    `timeout`'s SIGTERM) kills what is left at once; it is raised once the groups are gone, so nothing of theirs
    writes into a folder the caller removes next."""
    if not hasattr(os, "killpg"):  # Windows: no groups, only the children
        for child in children:
            child.kill()
            child.wait()
        return
    deadline, signum, again, left = time.monotonic() + grace, signal.SIGTERM, None, list(children)
    while left:
        try:
            for child in list(left):
                child.poll()  # the leader reaped: an exited group answers ProcessLookupError, not its zombie
                try:
                    os.killpg(child.pid, signum)
                except ProcessLookupError:
                    child.wait()
                    left.remove(child)
                except PermissionError:  # a member that changed its user: the leader is what is ours
                    child.kill()
            # SIGTERM once, then only asked after (signal 0) until the deadline, then SIGKILL
            signum = signal.SIGKILL if time.monotonic() > deadline else 0
            time.sleep(0.02 if left else 0)
        except KeyboardInterrupt as stop:
            again, deadline = again or stop, 0.0
    if again is not None:
        raise again


def run_child(cmd: list, *, check: bool = False, capture_output: bool = False, input=None,
              timeout: float | None = None, **kwargs) -> subprocess.CompletedProcess:
    """`subprocess.run` for a development script's child (`start_child`): whatever ends the wait (a stop, an
    error, `timeout`) ends the child's whole group and waits for it (`end_group`) before it goes on to the
    caller's cleanup."""
    if capture_output:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    child = start_child(cmd, **kwargs)
    try:
        out, err = child.communicate(input, timeout)
    except subprocess.TimeoutExpired as late:  # with what it wrote until then, as `subprocess.run` gives it
        end_group(child)
        late.stdout, late.stderr = child.communicate()
        raise
    except BaseException:
        end_group(child)
        raise
    done = subprocess.CompletedProcess(child.args, child.returncode, out, err)
    if check:
        done.check_returncode()
    return done


def wait_usage(child: subprocess.Popen):
    """Wait for `child` (`start_child`) and return its resource usage (`os.wait4`: its own CPU seconds, its
    threads' included, and peak RSS, which `Popen.wait` does not give), its `returncode` set. Whatever ends the
    wait (a stop) ends the child's whole group first (`end_group`)."""
    try:
        _, status, usage = os.wait4(child.pid, 0)
    except BaseException:
        end_group(child)
        raise
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage


@contextmanager
def script_temp(prefix: str, folder: str | None = None) -> Iterator[Path]:
    """A development script's temp folder (`tempfile.mkdtemp`), removed however the block ends (`remove_tree`),
    and known to `run_script`, whose stop message says whether it is gone."""
    with deferred():  # made and recorded in one go
        path = tempfile.mkdtemp(prefix=prefix, dir=folder)
        _script_temps.append(path)
    try:
        yield Path(path)
    finally:
        remove_tree(path)


def remove_tree(path: str | os.PathLike) -> bool:
    """Remove a script's temp folder whole and say whether it is gone. A stop that comes meanwhile waits until it
    is: an exception raised inside `shutil.rmtree` ends it (ignore_errors only ignores OSErrors), so a second
    stop during a stopped script's cleanup (a Ctrl-C after `timeout`'s SIGTERM) left most of a 5 GB venv behind
    under a message saying it was removed. This is the one slow step held by `deferred`: the script is already
    stopping, and the removal is what the stop is for; SIGKILL still ends it at once."""
    with deferred():
        for _ in range(3):  # a file made meanwhile (ENOTEMPTY): the next pass takes it
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.lexists(path):
                return True
    return False


def raise_on_sigterm() -> None:
    """Make the next SIGTERM raise `Terminated` (SIGHUP, unless ignored: `HungUp`) in the main thread, and
    later ones do nothing (a no-op outside the main thread). Ends `hold_stops_at_start`: SIGINT gets its
    handler back (Python's own replaced by `_raise_interrupted`, the same KeyboardInterrupt, kept), and the first stop
    that came while it held them is acted on now, so call this where a stop is handled. A signal handled by someone
    else's function is left to it (`_left_to_its_owner`)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if sys.unraisablehook is not _keep_swallowed_stops:
        _hook_found[0] = sys.unraisablehook
        sys.unraisablehook = _keep_swallowed_stops
    if not _left_to_its_owner(signal.SIGTERM):
        signal.signal(signal.SIGTERM, _raise_terminated)
    else:
        _carry_callers(signal.SIGTERM)
    # SIGHUP only where it is not ignored: under nohup the run is meant to outlive its session.
    if _SIGHUP is not None and signal.getsignal(_SIGHUP) is not signal.SIG_IGN:
        if not _left_to_its_owner(_SIGHUP):
            signal.signal(_SIGHUP, _raise_terminated)
        else:
            _carry_callers(_SIGHUP)
    if signal.SIGINT in _held_at_start:
        signal.signal(signal.SIGINT, _held_at_start[signal.SIGINT])
    _held_at_start.clear()
    # Python's own Ctrl-C handler only (a caller's own, or an ignored SIGINT, stays as it is): ours raises the same
    # KeyboardInterrupt and keeps it, as `_raise_terminated` keeps its stop; `handlers_given_back` puts Python's back.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _raise_interrupted)
    if _came_at_start:
        signum = _came_at_start[0]
        _came_at_start.clear()
        _deliver(signum, signal.getsignal(signum))


@contextmanager
def handlers_given_back() -> Iterator[None]:
    """Put the stop signals' handlers back as the block found them (main thread only; elsewhere none is set).

    Around the CLI's `main`, which makes SIGTERM and SIGHUP raise (`raise_on_sigterm`) and, after one stop, ignores
    them both: a script, notebook or service that runs `main([...])` in its own process and goes on got
    interp's handlers for good, so its next SIGTERM raised Terminated in whatever it was doing, or after one stop
    inside `main` was ignored for the rest of its life. A handler set outside Python (None) was never replaced
    (`raise_on_sigterm` leaves it, as it leaves a caller's own function) and is left as it is.

    The exception a caller's own handler raised inside (`CallersStop`) leaves the block as the caller raised it,
    once the handlers are back: theirs to handle, not a failure of interp's."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    found = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    hook = sys.unraisablehook
    callers = None
    try:
        yield
    except CallersStop as stop:
        callers = stop.error
    finally:
        sys.unraisablehook = hook
        _swallowed.clear()  # one main's stop is not the caller's
        came = _put_back(found)
        if came is not None:  # the caller's own stop, which came as its handler was put back: acted on once all are
            raise came  # in place of how main ended (its SystemExit): the caller's handler raised it after that
    if callers is not None:
        raise callers  # outside the except: no "during handling of CallersStop" in the caller's traceback


def _put_back(found: dict) -> BaseException | None:
    """Put each stop signal's handler back as `found`, all of them, even where a signal whose handler is already
    back comes meanwhile: what that handler raised (a caller's Shutdown, Ctrl-C's KeyboardInterrupt) cut the loop
    short, and the signals after it kept interp's handlers (a SIGHUP raising HungUp into the caller's program). It
    is returned, for the block to raise once every handler is back; a signal is then not lost, only moved."""
    left, came = list(found.items()), None
    while left:
        try:
            while left:
                signum, handler = left[0]
                if handler is not None and signal.getsignal(signum) is not handler:
                    signal.signal(signum, handler)
                left.pop(0)  # a raise before this line does the same signal again: a no-op once it is back
        except BaseException as raised:
            came = came or raised
    return came


def ignore_stops() -> None:
    """Ignore SIGINT and SIGTERM from now on, for a process that has finished and only exits (main thread
    only). An ignored signal stays ignored through Python's shutdown, where a handled one would be reset
    to the default action and kill the process by the signal."""
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then act on the first one that came, as usual.

    Meant for a few lines that must run whole (no waiting inside on anything slow): a stop that
    arrives meanwhile is not lost, only moved to the block's end. Nested blocks hold until the
    outermost ends.
    """
    global _depth
    if _depth or threading.current_thread() is not threading.main_thread():
        yield  # nested, or no Python handler can run here
        return
    # Each handler is known before any is taken, and a signal whose handler a stop kept from being put back acts
    # as that handler: a stop landing between two of the signals taken or put back (a SIGTERM as SIGINT's was taken,
    # a Ctrl-C once SIGINT's was back) left the others noted for good, in a list no one read (the process then
    # ignored Ctrl-C, or SIGTERM).
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    if any(handler is None for handler in previous.values()):
        yield  # one set outside Python, which we could not put back
        return
    pending: list[int] = []
    ended = False

    def note(signum, frame):
        if ended:  # left in place by a stop: put back late, then acted on
            signal.signal(signum, previous[signum])
            _deliver(signum, previous[signum])
        else:
            pending.append(signum)

    _depth += 1
    try:
        for signum in STOP_SIGNALS:
            signal.signal(signum, note)
        yield
    finally:
        _depth -= 1
        ended = True
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            _deliver(pending[0], previous[pending[0]])


@contextmanager
def context_set(variable: ContextVar, value) -> Iterator[None]:
    """`variable` set to `value` for the block, and as it was after, however the block ends: set (and its token in
    hand) in one go inside the `try`, as a stop landing as it was set (a caller's SIGTERM handler's) left it set for
    good in the caller's thread (its messages in CLI words, a stopped batch row's planned crops)."""
    token = None
    try:
        with deferred():
            token = variable.set(value)
        yield
    finally:
        if token is not None:
            variable.reset(token)


def import_pipeline() -> ModuleType:
    """`interp_cli.pipeline` (and with it torch), imported with Ctrl-C and SIGTERM held until it is done: every
    command that needs the model imports it here, `interp batch` only once a row needs it.

    A KeyboardInterrupt landing inside torch's 1-2 s import runs through third-party code that is not
    written for it: seen in repeated trials (SIGINT ~1-2 s after start), the process then died of SIGABRT,
    or a bare `except:` there swallowed the interrupt and the morph ran to the end (exit 0). Held, the
    stop acts the moment the import ends (`deferred`), as an interrupt of the command.
    """
    from interp_cli.malloc import frozen_imports

    # Only the import that loads it freezes: a process that has it already (a Python caller's) is left alone.
    fresh = "interp_cli.pipeline" not in sys.modules
    with deferred(), (frozen_imports() if fresh else nullcontext()):
        return importlib.import_module("interp_cli.pipeline")


def _deliver(signum: int, handler) -> None:
    """Act on a held signal as its own handler would have."""
    if callable(handler):
        handler(signum, None)  # raises KeyboardInterrupt / Terminated
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)  # the default action (end the process) now that we are whole
    # SIG_IGN: nothing to do
