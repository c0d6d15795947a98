"""Stops held while the command starts: the one part of stops.py that must run before stops.py is imported.

    hold_stops_at_start()   # the entry point's first line: a stop is noted, not fatal, until stops.raise_on_sigterm

Until a Python handler is set, SIGTERM's (and SIGHUP's) default action ends the process by the signal (its parent sees
-15, not 143), and Ctrl-C raises wherever Python is (a traceback, then a kill by SIGINT). stops.py itself imports
subprocess, tempfile, shutil and pathlib: about 8 ms of an idle start, several times that on a loaded machine, where
a Ctrl-C 0.087 s after the start still ended in Python's traceback. So this module imports only the built-in
`_signal` (the C module that `signal` wraps; `signal` would load enum and functools from disk), and the entry point
holds the stops before any other import of its own: what is left is the interpreter's own start-up (`site`, the .pth
files) and `interp_cli/__init__.py`, which imports nothing. A Python caller's `import interp_cli` runs none of this.
"""

import _signal

# SIGHUP: the terminal or ssh session a run was started from went away (not on Windows).
STOP_SIGNALS = (_signal.SIGINT, _signal.SIGTERM, *((_signal.SIGHUP,) if hasattr(_signal, "SIGHUP") else ()))
held: dict[int, object] = {}  # signal -> the handler it had, while `hold_stops_at_start` holds it
came: list[int] = []  # the stop signals that arrived meanwhile, in order


def note_at_start(signum, frame):
    came.append(signum)


def hold_stops_at_start() -> None:
    """Note SIGINT, SIGTERM and SIGHUP instead of acting on them until `stops.raise_on_sigterm` (main thread only:
    elsewhere Python refuses to set a handler, and nothing is held). A signal that is ignored (a background job's
    SIGINT, nohup's SIGHUP) or handled outside Python is left as it is."""
    for signum in STOP_SIGNALS:
        handler = _signal.getsignal(signum)
        if handler is None or handler is note_at_start or handler == _signal.SIG_IGN:
            continue
        try:
            held[signum] = _signal.signal(signum, note_at_start)
        except ValueError:  # not the main thread (or not the main interpreter)
            return
