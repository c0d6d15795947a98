"""Process-wide allocator tuning for CPU rendering (glibc only; a no-op elsewhere).

glibc serves every block over 32 MB with a fresh mmap and unmaps it on free, so each 1024x1024
frame page-faults and zero-fills ~750 MB of new pages: 0.4 s of kernel time per frame on a
2-core machine, a quarter of the frame. Keeping freed blocks in the heap lets the next frame
reuse them. The `interp` command turns this on at start-up; Python callers may call
`keep_freed_memory()` themselves (it changes the whole process's malloc, so it is not done on
import).
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_KEEP_BYTES = 1 << 30  # freed heap kept for reuse before glibc gives memory back to the system


def keep_freed_memory() -> bool:
    """Make glibc's malloc reuse freed large blocks instead of unmapping them. Returns whether it applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the running process's libc; musl has no mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    # One arena: a thread's own arena lives in mmap-ed heaps of at most 64 MB, so a rendering thread
    # (see render.render_ahead) would get none of the reuse below and fault its frames in afresh.
    return (bool(mallopt(_M_ARENA_MAX, 1)) and bool(mallopt(_M_MMAP_MAX, 0))
            and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES)))
