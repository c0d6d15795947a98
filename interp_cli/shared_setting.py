"""A process-wide setting that interp changes while any of its users needs it, and puts back after the last one.

torch's cuDNN and TF32 flags, huggingface_hub's logger level and its progress bars belong to the whole process,
while a Python caller may run interp's stages (morphs, downloads) in several threads at once. Each user saving the
setting and putting it back on its way out races: with A in, B in, A out, B out, A puts the caller's value back
while B still runs, and B then "restores" what A had set, for good. So a setting is held by count under a lock:
the first holder in makes the change, the last one out undoes it. Every holder wants the same value.

A stop (Ctrl-C, SIGTERM, a Python caller's own handler's exception) landing between the change and the `try`
that undoes it left the setting changed, or a holder counted, with nothing to put it back: the change is made and
counted in one go (`stops.deferred`), inside the `try`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from interp_cli.stops import deferred


class SharedSetting:
    """One process-wide setting, held by count: `with setting.held(change): ...`."""

    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0
        self._undo: Callable[[], None] | None = None

    @contextmanager
    def held(self, change: Callable[[], Callable[[], None] | None]) -> Iterator[None]:
        """`change()`, called by the first holder in, makes the change and returns what undoes it (None: nothing to
        undo), called by the last holder out."""
        counted = False
        try:
            with deferred(), self._lock:
                if self._inside == 0:
                    self._undo = change()
                self._inside += 1
                counted = True
            yield
        finally:
            if counted:
                with self._lock:
                    self._inside -= 1
                    if self._inside == 0 and self._undo is not None:
                        undo, self._undo = self._undo, None
                        undo()


def written(read: Callable[[], Any], write: Callable[[Any], None], value: Any) -> Callable[[], Callable[[], None]]:
    """A `change` for `SharedSetting.held` that writes `value`, and whose undo writes back what `read()` found."""
    def change() -> Callable[[], None]:
        before = read()
        write(value)
        return lambda: write(before)

    return change
