"""Whose fault a failure is, and how it is told (`reported`: one rule for the stderr line, a batch row's error
and a batch summary): the machine's (a full disk, a quota, a limit, out of memory, a missing dependency), the
user's (a place they may not write) or interp's own (an internal error). `errors` holds the error types.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence

from interp_cli.errors import (InterpError, UsageError, WeightsUnavailableError, one_line, option, pip_install,
                               speaking_to_cli)

try:  # imported here: under the address-space limit it reports, its own import (a shared library) may fail
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None

# errno values that mean "the machine ran out of something", not "interp has a bug".
NO_ROOM = {errno.ENOSPC, errno.EFBIG} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())
_NOT_ALLOWED = {errno.EACCES, errno.EPERM, errno.EROFS}
MACHINE_ERRNOS = NO_ROOM | _NOT_ALLOWED | {errno.EIO, errno.EMFILE, errno.ENFILE, errno.ENOMEM}
# What out of memory advises, by command: only options the command takes.
_SMALLER = {"morph": ("batch_size", "size"), "batch": ("batch_size", "size"), "align": ("size",)}


def is_machine_error(err: BaseException) -> bool:
    """An OSError caused by the machine (disk full, quota, limits, permissions, I/O), not by a bug."""
    return isinstance(err, OSError) and err.errno in MACHINE_ERRNOS


def environment_error(err: OSError, name: str | os.PathLike | None = None, *, at_fault: bool = True) -> InterpError:
    """One line for a failed file operation, naming `name` (else the file the OSError names), which is also its
    `path`, the file at fault (unless not `at_fault`: a stream such as "standard output" is no file to name).

    No space, quota or file-size limit: exit 1. Permission or read-only location: exit 2, since the
    user chose the place. Anything else: exit 1 with the system's words.
    """
    shown = os.fspath(name) if name is not None else (err.filename or "")
    prefix = f"{shown}: " if shown else ""
    reason = err.strerror or str(err)
    if err.errno == errno.EFBIG:
        told = InterpError(f"{prefix}cannot write: {_too_large()}")
    elif err.errno in NO_ROOM:
        told = InterpError(f"{prefix}cannot write: {reason.lower()}; free some space or write elsewhere")
    elif err.errno == errno.EMFILE:
        told = InterpError(f"{prefix}{_too_many_open_files()}")
    elif err.errno in _NOT_ALLOWED:
        told = UsageError(f"{prefix}{reason.lower()}")
    else:
        told = InterpError(f"{prefix}{reason}")
    told.errno = err.errno  # what the machine said, for a caller that decides by it (a batch on a full disk)
    if at_fault and shown:
        told.path = shown
    return told


def _too_many_open_files() -> str:
    """Why this process could open no more files (EMFILE), and what helps: its own descriptor limit (`ulimit -n`, a
    scheduler's), which interp needs a few more than Python's own for (ffmpeg's pipes, a temp, the photos).

    1024, the usual default, is the advice below it: a morph, a batch and `--tune` held at most 10 descriptors at
    once (benchmarks/README.md, "The sixteenth audit's own leftovers"). At or above it, the files are the process's
    own (a Python caller's, a service's sockets), and 1024 would not raise it: twice the limit is said instead."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE) if resource is not None else None
    if limit is None or limit[0] == resource.RLIM_INFINITY:  # pragma: no cover - no such limit here
        return "too many open files"
    soft, hard = limit
    wanted = 1024 if soft < 1024 else 2 * soft
    capped = hard != resource.RLIM_INFINITY and hard < wanted
    if speaking_to_cli():
        # `ulimit -n 6` sets the hard limit too, which that shell cannot raise again: only a new one can.
        hard_said = f" (its hard limit, `ulimit -Hn`, is {hard}: run from a new shell, or ask for more)"
        how = f"raise it: `ulimit -n {wanted}` in the shell that runs interp" + (hard_said if capped else "")
        setting = f"ulimit -n is {soft}"
    else:
        room = f"({hard}, {hard})" if capped else f"({wanted}, resource.getrlimit(resource.RLIMIT_NOFILE)[1])"
        how = (f"raise it: resource.setrlimit(resource.RLIMIT_NOFILE, {room})" if not capped or hard > soft else
               f"its hard limit is {hard} too, which only a process started with more can pass")
        setting = "its RLIMIT_NOFILE"
    return f"too many open files: this process may have only {soft} open at once ({setting}); {how}"


def descriptors_short() -> OSError | None:
    """The EMFILE that starting a child process here would meet (its pipes: four descriptors), else None. A failure
    that hides its OSError (imageio-ffmpeg's probe of its binary, which says only that no ffmpeg runs) asks this
    whether the descriptor limit was the cause."""
    made = []
    try:
        for _ in range(2):
            made.extend(os.pipe())
    except OSError as err:
        return err if err.errno == errno.EMFILE else None
    finally:
        for fd in made:
            os.close(fd)
    return None


def _too_large() -> str:
    """Why a write failed with EFBIG, and what helps: freeing space does not. Either this process has a
    file-size limit (`ulimit -f`, a batch scheduler's), which applies wherever it writes, or the file
    system has a largest file (FAT32's 4 GiB), which another place does not have."""
    try:
        import resource
    except ImportError:  # Windows: no such limit, only the file system's
        resource = None
    if resource is not None:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft != resource.RLIM_INFINITY:
            raisable = hard == resource.RLIM_INFINITY or soft < hard or os.geteuid() == 0
            return (f"file too large (over this process's file-size limit of {soft:,} bytes, `ulimit -f`)"
                    f"{'; raise that limit' if raisable else ''}")
    return "file too large for its file system; write it elsewhere"


def retold(err: InterpError, message: str) -> InterpError:
    """`err` in other words (a batch names its files its own way, or says it stopped): the same exit code,
    and the errno it carries, if any, which callers decide by (`stops_a_batch`)."""
    told = InterpError(message, path=err.path)
    told.exit_code = err.exit_code
    if hasattr(err, "errno"):
        told.errno = err.errno
    return told


# A disk that is full, over quota or read-only stays so for the next row: a batch stops (`stops_a_batch`).
_WHOLE_DISK = (NO_ROOM - {errno.EFBIG}) | {errno.EROFS}


def stops_a_batch(err: BaseException) -> bool:
    """Whether a row's failure would fail every row after it alike: its file system full, over quota or
    read-only (a file-size limit, EFBIG, is the row's own: a smaller output may fit)."""
    return getattr(err, "errno", None) in _WHOLE_DISK


def cache_not_written(what: str | Sequence[str], err: BaseException, folder: str | os.PathLike) -> str:
    """The one warning every cache gives when an entry cannot be written (`what`: "latent cache", ...; or the
    names of every cache the one cause turns off, said in one line: `cache_folders.CacheWarnings`).

    The OS error under `err` is worded by `environment_error` naming the cache's `folder` ("read-only file
    system", "file too large (over this process's file-size limit ...)"), never as Python's "[Errno 30] ...": torch.save
    wraps it in a RuntimeError, atomic_write in an InterpError naming a temp-sized entry path.
    """
    cause = os_cause(err)
    reason = environment_error(cause, folder) if cause is not None else err
    names = [what] if isinstance(what, str) else list(what)
    if len(names) > 1:  # "latent cache", "tuned-weights cache" -> "latent and tuned-weights caches"
        bare = [name.removesuffix(" cache") for name in names]
        return (f"warning: {', '.join(bare[:-1])} and {bare[-1]} caches not written ({one_line(reason)}); "
                f"continuing without them")
    return f"warning: {names[0]} not written ({one_line(reason)}); continuing without it"


def os_cause(err: BaseException) -> OSError | None:
    """The OSError `err` is, or was raised from or while handling (torch.save's RuntimeError, atomic_write's
    InterpError), or None."""
    cause, seen = err, set()
    while cause is not None and not isinstance(cause, OSError) and id(cause) not in seen:
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return cause if isinstance(cause, OSError) else None


def is_out_of_memory(err: BaseException) -> bool:
    """Whether `err` says the machine ran out of memory: host memory (MemoryError) or a GPU's, which torch
    raises as `torch.OutOfMemoryError` (`torch.cuda.OutOfMemoryError`: a RuntimeError), or for Apple MPS
    and some CUDA paths ("CUDA error: out of memory") as a plain RuntimeError saying so. Host memory that
    torch's CPU allocator cannot get (a `ulimit -v`, a full machine) is a plain RuntimeError too, worded
    "[enforce fail at alloc_cpu.cpp:...] ... DefaultCPUAllocator: can't allocate memory" (older torch: "not
    enough memory"): it was told as an internal error; so is a checkpoint torch.load cannot map ("unable to mmap
    ... Cannot allocate memory (12)"), which was told as a damaged file.

    Known by class name and message, so this module never imports torch (the CLI's --help runs without it).
    """
    if isinstance(err, MemoryError):
        return True
    if any(cls.__name__ == "OutOfMemoryError" and cls.__module__.split(".")[0] == "torch"
           for cls in type(err).__mro__):
        return True
    if not isinstance(err, RuntimeError):
        return False
    text = str(err).lower()
    return "out of memory" in text or ("defaultcpuallocator" in text and
                                       ("can't allocate memory" in text or "not enough memory" in text)) or (
        "unable to mmap" in text and os.strerror(errno.ENOMEM).lower() in text)  # torch.load(mmap=True), ENOMEM


def reported(err: BaseException, command: str, output: str | os.PathLike | None = None) -> tuple[InterpError, bool]:
    """How a failure is told: as an InterpError (its one line, its exit code), and whether it is a bug.

    Ours as they are; a full disk, a quota, a limit or a file that an OSError names as the machine's
    problem, not a bug; unavailable weights with what else `command` can try; out of memory with what
    may fit, naming only options the command takes; anything else as the internal error it is.
    `output`, a batch row's, starts the lines that would not name a file otherwise.
    """
    prefix = f"{os.fspath(output)}: " if output is not None else ""
    if isinstance(err, OSError) and (is_machine_error(err) or err.filename):
        return environment_error(err, err.filename or output), False
    if isinstance(err, WeightsUnavailableError):
        return err.for_command(command), False
    if isinstance(err, InterpError):
        return err, False
    limit = _address_space_limit()
    if is_out_of_memory(err) or (limit is not None and _failed_to_map(err)):
        library = _library_loading(err)
        if library is not None:  # before any work: no option of the command makes a library smaller
            said = f": {_limit_said(limit)}; raise that limit" if limit is not None else ""
            return InterpError(f"{prefix}out of memory loading {library}{said}"), False
        smaller = f"a smaller {' or '.join(map(option, _SMALLER[command]))}" if command in _SMALLER else ""
        if limit is not None:  # the limit may be all that is short: a `ulimit -v` set long ago, or a job's
            said = f": {_limit_said(limit)}; raise that limit{f', or try {smaller}' if smaller else ''}"
        else:
            said = f" (try {smaller})" if smaller else ""
        return InterpError(f"{prefix}out of memory{said}"), False
    missing = _missing_requirement(err)
    if missing is not None:
        return InterpError(missing), False
    return InterpError(f"{prefix}internal error: {type(err).__name__}: {one_line(err)}"), True


def _address_space_limit() -> int | None:
    """This process's address-space limit in bytes (`ulimit -v`, RLIMIT_AS), or None where it has none."""
    if resource is None:  # pragma: no cover - not POSIX
        return None
    try:
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (OSError, ValueError):  # pragma: no cover
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def _limit_said(limit: int) -> str:
    """The address-space limit, as the shell's `ulimit -v` (KB) or a Python caller's RLIMIT_AS names it."""
    setting = f"ulimit -v is {limit // 1024}" if speaking_to_cli() else "its RLIMIT_AS"
    return f"this process may use only {limit / 2 ** 20:.0f} MB of address space ({setting})"


def _failed_to_map(err: BaseException) -> bool:
    """A shared library the dynamic loader could not map: an ImportError, or an OSError from ctypes (torch loads its
    CUDA libraries so), under an address-space limit."""
    return isinstance(err, (ImportError, OSError)) and "failed to map segment" in str(err)


def _library_loading(err: BaseException) -> str | None:
    """The package (torch, PIL, numpy) that `err` was raised while importing, from the traceback, else None.

    Only an import below interp's last frame counts: a caller's module that runs a morph as it is imported is
    not the library that failed."""
    found = None
    trace = err.__traceback__
    while trace is not None:
        frame = trace.tb_frame
        package = str(frame.f_globals.get("__name__", "")).split(".")[0]
        if package == "interp_cli":
            found = None
        elif found is None and frame.f_code.co_name == "<module>" and package not in ("__main__", ""):
            found = package
        trace = trace.tb_next
    return found


# The modules of setup.cfg's install_requires, by the name pip installs each as (tests hold the two alike).
REQUIRED_MODULES = {"torch": "torch", "click": "click", "PIL": "pillow", "imageio": "imageio",
                    "imageio_ffmpeg": "imageio-ffmpeg", "numpy": "numpy", "huggingface_hub": "huggingface_hub",
                    "tqdm": "tqdm"}


def _missing_requirement(err: BaseException) -> str | None:
    """A dependency interp is installed with, missing from this Python (`pip install --no-deps`, or
    removed since): the environment's fault, not a bug, said with the command that puts it back."""
    if not isinstance(err, ModuleNotFoundError) or not err.name:
        return None
    package = REQUIRED_MODULES.get(err.name.split(".")[0])
    if package is None:
        return None
    return f"{package} is not installed in this Python, and interp needs it: {pip_install(package)}"
