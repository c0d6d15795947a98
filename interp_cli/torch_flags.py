"""Process-wide torch backend flags that interp changes for one stage and then puts back.

`torch.backends.cudnn.deterministic` / `.benchmark` and the TF32 switches are global to the process,
not per thread or per call, while a `Session` lets morphs (refine, tune, render) run in threads at
once. Saving the flags on entry and restoring them on exit then goes wrong as soon as two uses
overlap: the first to leave restores the flags under the other, which runs on with them off. So a
setting is held by reference count under one lock: the first user saves the flags and sets them, the
last one to leave restores what the first saw. Every holder of a setting wants the same values, so
holders never fight over them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

_lock = threading.Lock()
_holders: dict[str, list] = {}  # setting name -> [how many hold it, the flags the first holder found]


@contextlib.contextmanager
def _holding(name: str, read: Callable[[], Any], write: Callable[[Any], None], value: Any) -> Iterator[None]:
    """Hold the setting `name` (`write(value)`) for the duration; the flags `read()` returned before the
    first holder came are written back when the last holder leaves."""
    with _lock:
        entry = _holders.get(name)
        if entry is None:
            entry = _holders[name] = [0, read()]
            write(value)
        entry[0] += 1
    try:
        yield
    finally:
        with _lock:
            entry[0] -= 1
            if entry[0] == 0:
                del _holders[name]
                write(entry[1])


def _cudnn_choice() -> tuple[bool, bool]:
    return bool(torch.backends.cudnn.deterministic), bool(torch.backends.cudnn.benchmark)


def _set_cudnn_choice(flags: tuple[bool, bool]) -> None:
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags


def deterministic_cudnn() -> contextlib.AbstractContextManager:
    """cuDNN pinned to deterministic kernels (deterministic on, benchmark off) while any holder is inside."""
    return _holding("deterministic-cudnn", _cudnn_choice, _set_cudnn_choice, (True, False))
