"""Progress on stderr: one bar per long step (encoding, refinement, frames, batch rows).

    with progress.bar(60, "rendering", unit="frame", enabled=not quiet) as frames:
        for frame in ...:
            frames.update()

On a terminal each bar is one tqdm line redrawn in place (done/total, rate, ETA); a bar opened
while another is open (a row's frames inside a batch, refinement inside encoding) sits below it
and disappears when done. When stderr is a pipe or a file (CI logs, schedulers), redraws would be
carriage-return spam, so a bar prints at most five plain lines: one at each quarter once it has
run for a few seconds, a last one with the count and rate, and for a slow bar one early estimate
before its first quarter. A nested bar speaks there only once it is slow (`EARLY_ESTIMATE_S`): a batch's
outer bar speaks for its quick rows, while a row's minutes of --tune, --refine or 1024 px rendering on a
CPU still show signs of life in a Slurm log. `message`
prints a line without tearing a bar apart. With `--json` bars are drawn on a terminal only (`wanted`).
A bar's unit "byte" counts in kB/MB/GB/TB (`human_size`). `polled` makes a bar of a file that someone else writes
(huggingface_hub's download of the weights), its size read by a thread now and then.

tqdm is imported when a terminal bar is first drawn, so `interp --help` does not pay for it.

The verbs say what they do through a `Log`, one line at a time. The command's prints to stderr; a Python
caller's default, `python_log`, prints nothing of its own (see there), and bars are drawn only when asked
(`progress=True`).
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from interp_cli.names import line_text
from interp_cli.stops import deferred

QUARTER_AFTER_S = 5.0  # off a terminal, quarter lines only for bars slower than this (short ones: one line)
# Off a terminal, a bar still short of its first quarter after this long prints one line with its estimate:
# a bare --tune at 1024 px on a CPU (about 6 s a step) said nothing for its first 75 s, a --tune 1000 for
# 25 minutes, so a log showed no sign of life, nor how long to wait. A nested bar (a batch row's) is silent
# until it has run this long: a batch of quick rows stays one line a row, a slow row's steps are seen.
EARLY_ESTIMATE_S = 15.0
POLL_S = 0.5  # how often `polled` reads the size of the file it follows: often beside the seconds a line waits for

_open: list = []  # bars drawing now, outermost first (main thread only)
# One thread at a time makes or closes a terminal bar: making sets tqdm's class-wide monitor_interval, and an older
# tqdm (4.42) lists a bar among its instances before the bar has its writer, so a bar closed in another thread
# meanwhile, which clears its neighbours, raised AttributeError ('tqdm' object has no attribute 'sp').
_TQDM = threading.Lock()


def bar(total: int, desc: str, *, unit: str = "item", enabled: bool = True):
    """A progress bar on stderr for `total` steps, used as a context manager (see the module doc).

    `unit` is singular ("frame"); `enabled=False` (`--quiet`) gives a bar that prints nothing.
    """
    if not enabled or total <= 0:
        return _Silent()
    # The label may hold a file's name (`refining NAME`, `downloading NAME`): its control characters escaped, as on
    # every line a person reads, so that a photo named `$'a\e[2Jb.png'` cannot clear the terminal it is drawn on.
    desc = line_text(desc)
    stream = sys.stderr
    if is_terminal(stream):
        return _Terminal(total, desc, unit, stream)
    return _Lines(total, desc, unit, stream, quiet_for=EARLY_ESTIMATE_S if _open else 0.0)


@contextmanager
def polled(total: int, desc: str, size_now: Callable[[], int], *, start: int = 0) -> Iterator[None]:
    """A bar in bytes (`bar`) over the block, for a file another library writes: `size_now()`, read every POLL_S
    seconds by a thread, is how far it is, out of `start + total` (`start`: bytes that were there already). When
    the block ends without an error, the bar ends on its full count; a failure closes it with no final line."""
    done = 0
    stop = threading.Event()
    with bar(total, desc, unit="byte") as drawn:

        def follow() -> None:
            nonlocal done
            while not stop.wait(POLL_S):
                try:
                    now = min(max(size_now() - start, 0), total)
                except OSError:  # the file moved or went meanwhile: the next look tells
                    continue
                if now > done and not stop.is_set():
                    drawn.update(now - done)
                    done = now

        # A daemon: a stop in the main thread never waits for it; and joined before the bar closes, so no line
        # of it comes after the bar's last one (or after a stop's own line).
        thread = threading.Thread(target=follow, name="interp-polled-progress", daemon=True)
        try:
            with deferred():  # a stop inside start() must not leave the thread polling (render.render_ahead)
                thread.start()
            yield
        finally:
            stop.set()
            if thread.ident is not None:
                thread.join()
        if done < total:
            drawn.update(total - done)


def human_size(size: int) -> str:
    """Bytes as people read them: "1.2 GB", "300.0 MB", "3.0 kB", "12 bytes" (powers of 1000, as disks are sold).
    The unit is chosen on the rounded figure, so 999,999 bytes read "1.0 MB", not "1000.0 kB"; TB is the last."""
    if size < 1000:
        return f"{size} bytes"
    scale = 1000
    for unit in ("kB", "MB", "GB"):
        figure = f"{size / scale:.1f}"
        if float(figure) < 1000:
            return f"{figure} {unit}"
        scale *= 1000
    return f"{size / scale:.1f} TB"


def wanted(*, quiet: bool = False, as_json: bool = False) -> bool:
    """Whether a command draws progress: never with `--quiet`; with `--json` only on a terminal, so a
    script that reads the JSON and logs stderr gets no progress lines there (as before the bars)."""
    if quiet:
        return False
    return not as_json or is_terminal(sys.stderr)


def message(text: str) -> None:
    """Print one line on stderr; on a terminal, open bars are cleared first and redrawn below it."""
    stream = sys.stderr
    if any(isinstance(b, _Terminal) for b in _open):
        from tqdm import tqdm

        tqdm.write(text, file=stream)
    else:
        print(text, file=stream, flush=True)


def close_open() -> None:
    """Close every bar still open, innermost first, as stopped. Said before a stop's line: a bar whose `with` had not
    ended yet (inside a generator that the traceback keeps alive) was otherwise closed at exit and drawn again
    below `interp: terminated`."""
    for each in reversed(list(_open)):
        each.close(completed=False)


def is_terminal(stream) -> bool:
    """Whether `stream` is a terminal (False for None, a closed stream or one without isatty)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):  # a closed stream
        return False


def _size(stream) -> tuple[int, int]:
    try:
        return tuple(os.get_terminal_size(stream.fileno()))
    except (AttributeError, OSError, ValueError):
        return (0, 0)


def _rate(done: int, seconds: float, unit: str) -> str:
    if done <= 0 or seconds <= 0:
        return ""
    if unit == "byte":
        return f"{human_size(round(done / seconds))}/s"
    per_second = done / seconds
    if per_second >= 1:
        return f"{per_second:.2f} {unit}s/s"
    return f"{seconds / done:.1f} s/{unit}"


class _Bar:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(completed=exc_type is None)

    def update(self, n: int = 1) -> None:
        raise NotImplementedError

    def note(self, text: str) -> None:
        """A short status shown after the count (e.g. refinement's current loss)."""

    def close(self, completed: bool = True) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        """Close the bar leaving no line of its own: its step turned out to be no work (every code from the cache),
        which a line of the caller's says instead of a count of work not done."""
        self.close(completed=False)


class _Silent(_Bar):
    def update(self, n: int = 1) -> None:
        pass

    def close(self, completed: bool = True) -> None:
        pass


class _Terminal(_Bar):
    def __init__(self, total: int, desc: str, unit: str, stream):
        from tqdm import tqdm

        nested = bool(_open)
        size = {}
        if _size(stream) <= (0, 0):
            # A terminal that reports no size (a fresh pseudo-terminal, some CI runners): tqdm would
            # draw an empty bar, so give it 80 columns (and rows, which tqdm >= 4.5x also reads).
            size = {"ncols": 80, **({"nrows": 24} if "nrows" in inspect.signature(tqdm.__init__).parameters else {})}
        # Drawn and listed as open in one step: a stop that landed in between (the bar just drawn, the test
        # that sends one on seeing it, or a scheduler's) left a bar close_open could not see, closed at exit
        # and so drawn again below `interp: terminated` (a whole-suite run under the floor venv, 2026-12-06).
        with deferred(), _TQDM:
            # No watchdog thread: our bars are updated often enough. tqdm reads this class-wide setting when a bar
            # is made, so it is set for that moment only, one thread at a time (bars made at once in threads put
            # back each other's 0): a caller's own bars keep theirs.
            interval, tqdm.monitor_interval = tqdm.monitor_interval, 0
            try:
                # Bytes as tqdm scales them (3.00M/3.00M, 15.0MB/s), as huggingface_hub's download bar shows them.
                units = dict(unit="B", unit_scale=True, unit_divisor=1000) if unit == "byte" else dict(unit=unit)
                self._bar = tqdm(total=total, desc=desc, file=stream, leave=not nested,
                                 dynamic_ncols=not size, mininterval=0.1, smoothing=0.1, **units, **size)
            finally:
                tqdm.monitor_interval = interval
            _open.append(self)

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def note(self, text: str) -> None:
        self._bar.set_postfix_str(text, refresh=False)

    def close(self, completed: bool = True) -> None:
        with deferred(), _TQDM:  # taken off the list and closed in one step, as it was drawn and listed
            if self in _open:
                _open.remove(self)
                self._bar.close()

    def drop(self) -> None:
        self._bar.leave = False  # tqdm then clears its line as it closes, as it does a nested bar's
        self.close()


class _Lines(_Bar):
    def __init__(self, total: int, desc: str, unit: str, stream, quiet_for: float = 0.0):
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.quiet_for = quiet_for  # seconds it prints nothing (a nested bar: until it is slow)
        self.done = 0
        self.started = time.perf_counter()
        self._quarter = 0
        self._estimated = False
        self._note = ""
        _open.append(self)

    def update(self, n: int = 1) -> None:
        self.done += n
        quarter = 4 * self.done // self.total
        if quarter > self._quarter:
            self._quarter = quarter
            elapsed = time.perf_counter() - self.started
            if quarter < 4 and elapsed >= max(QUARTER_AFTER_S, self.quiet_for):
                self._progress(elapsed)
        elif not self._quarter and not self._estimated and self.done < self.total:
            elapsed = time.perf_counter() - self.started
            if elapsed >= EARLY_ESTIMATE_S:
                self._estimated = True
                self._progress(elapsed)

    def _progress(self, elapsed: float) -> None:
        left = elapsed * (self.total - self.done) / self.done
        self._print(f"{self._count()}, {elapsed:.0f}s elapsed, about {left:.0f}s left")

    def _count(self) -> str:
        if self.unit == "byte":
            return f"{human_size(self.done)}/{human_size(self.total)}"
        return f"{self.done}/{self.total} {self.unit}s"

    def note(self, text: str) -> None:
        self._note = text

    def close(self, completed: bool = True) -> None:
        if self not in _open:
            return
        _open.remove(self)
        elapsed = time.perf_counter() - self.started
        if completed and self.done and elapsed >= self.quiet_for:
            rate = _rate(self.done, elapsed, self.unit)
            self._print(f"{self._count()} in {elapsed:.1f}s" + (f" ({rate})" if rate else ""))

    def _print(self, text: str) -> None:
        note = f", {self._note}" if self._note else ""
        print(f"{self.desc}: {text}{note}", file=self.stream, flush=True)


Log = Callable[[str], None]


NOTES = logging.getLogger("interp_cli")  # where a Python caller's notes go (`python_log`)


def python_log(text: str) -> None:
    """The verbs' default `log` for a Python caller: interp prints nothing of its own.

    A "warning: ..." line (a GIF's frame rate capped, a photo the model draws poorly, a cache not written)
    is issued as an `interp_cli.errors.InterpWarning` through Python's `warnings`, pointing at the caller's
    line: shown by Python's default filter (once per message and line), and filtered, recorded or made an
    error as any warning is. Any other line is a note ("a.jpg: 2 faces found, using face 0 ...", "tuning: 20
    steps reused from the cache"), logged at INFO on the "interp_cli" logger: silent unless the caller's
    logging shows INFO (`logging.basicConfig(level=logging.INFO)`)."""
    if text.startswith("warning: "):
        from interp_cli.errors import warn_caller

        warn_caller(text[len("warning: "):])
    else:
        NOTES.info(text)
