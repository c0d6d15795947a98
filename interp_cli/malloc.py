"""Process-wide memory-manager tuning: glibc's malloc for CPU rendering (a no-op elsewhere), and Python's
cyclic garbage collector around the command's big import.

glibc serves every block over 32 MB with a fresh mmap and unmaps it on free, so each 1024x1024
frame page-faults and zero-fills ~750 MB of new pages: 0.4 s of kernel time per frame on a
2-core machine, a quarter of the frame. Keeping freed blocks in the heap lets the next frame
reuse them. The `interp` command turns this on at start-up; Python callers may call
`keep_freed_memory()` themselves (it changes the whole process's malloc, so it is not done on
import).
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_KEEP_BYTES = 1 << 30  # freed heap kept for reuse before glibc gives memory back to the system


def _libc(name: str):
    """The running process's C library function `name` on Linux, or None (another system, or a libc without it:
    musl has neither mallopt nor malloc_trim)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def keep_freed_memory() -> bool:
    """Make glibc's malloc reuse freed large blocks instead of unmapping them. Returns whether it applied."""
    mallopt = _libc("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    # One arena: a thread's own arena lives in mmap-ed heaps of at most 64 MB, so a rendering thread
    # (see render.render_ahead) would get none of the reuse below and fault its frames in afresh.
    return (bool(mallopt(_M_ARENA_MAX, 1)) and bool(mallopt(_M_MMAP_MAX, 0))
            and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES)))


def give_back_freed_memory() -> bool:
    """Return the heap's free pages to the system now (glibc's malloc_trim; a no-op elsewhere). Returns whether
    any were returned.

    For the rare big temporary that is not a frame's: `keep_freed_memory` keeps up to 1 GB of freed heap for the
    frames to reuse, so the ~200 MB a first run's landmark-model parse frees stayed resident, and the encoder's
    buffers, of other sizes, were laid beside it rather than in it: the process peaked that much higher (2016 MiB
    against a second run's 1759; benchmarks/README.md, "A first 1024 morph's memory, and MP4 bytes").
    """
    malloc_trim = _libc("malloc_trim")
    if malloc_trim is None:
        return False
    malloc_trim.argtypes = (ctypes.c_size_t,)
    return bool(malloc_trim(0))


_freeze_here = False


def freeze_imports_here() -> None:
    """Let `frozen_imports` freeze: for the command's own process only, never a Python caller's, whose objects
    (and whose cyclic garbage of that moment) it would keep for the rest of the caller's life."""
    global _freeze_here
    _freeze_here = True


@contextmanager
def frozen_imports() -> Iterator[None]:
    """Run a big import (torch and the pipeline) with the cyclic garbage collector off, then move every object
    that exists into the collector's permanent generation (`gc.freeze`), where no later collection walks it.

    torch's import leaves ~170 thousand tracked objects (modules, functions, classes) that live until the
    process ends, and the collector walked them over and over for nothing: ~0.12 s of collections during the
    import, then ~0.08 s for each full collection after it (`E4EModel.drop_encoder`'s), a tenth of a cold
    64 px morph (benchmarks/README.md, "Per-morph overhead on a CPU"). The import itself leaves ~20 objects
    of cyclic garbage, 2.5 KB, which the freeze keeps. Objects made later are collected as before.

    Every object of the process is frozen, a caller's too, so this acts only in the command's own process
    (`freeze_imports_here`, which `cli.run` calls) and only where its own import loads the pipeline
    (`stops.import_pipeline`): a Python program that runs `cli.main([...])` or imported the pipeline itself
    keeps its collector as it was, and so does one that turned the collector off.
    """
    if not _freeze_here or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        gc.enable()
