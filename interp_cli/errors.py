"""The few error types the CLI turns into one line on stderr and an exit code, and how any failure
becomes that line (`reported`: one rule for the stderr line, a batch row's error and a batch summary).

Library code raises these; `cli.py` catches `InterpError` and prints `str(err)`.
Anything else that escapes is a bug and is reported as such (with a traceback under --debug).

A message names an option the way its reader passes it (`option`): `--fps 60` and `--no-align` on the
command line, `fps=60` and `align=False` to a Python caller. The words are chosen when the message is
made, by whoever runs: the `interp` command says so for its length (`cli_words`); any other caller, in
any thread, gets keywords. One message text serves both.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

from interp_cli.stops import context_set

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

# Whether messages are being made for the `interp` command (flags) rather than a Python caller (keywords).
# A context variable: the command sets it around its own run, and a Python caller's threads never see it.
_CLI_WORDS: ContextVar[bool] = ContextVar("interp_cli_words", default=False)
_UNSET = object()
_FLAGS = {"output": "-o"}  # keywords whose flag is not --the-keyword-with-dashes


def cli_words() -> AbstractContextManager[None]:
    """Messages made inside name options as the command line spells them (`--no-align`), not as keywords."""
    return context_set(_CLI_WORDS, True)


def speaking_to_cli() -> bool:
    """Whether messages made now are for the `interp` command (see `cli_words`)."""
    return _CLI_WORDS.get()


def env_setting(variable: str, value: str) -> str:
    """An environment variable set, in its reader's words: `NAME=value` before a shell's command, or the line that
    sets it in a Python caller's process, which interp reads at its next use (the hub's cache and waits,
    `hub_download.hub_cache`; the tuned-weights cache's bound, `tune.TunedCache`)."""
    return f"{variable}={value}" if speaking_to_cli() else f'os.environ["{variable}"] = "{value}"'


def set_env(variable: str, value: str) -> str:
    """`env_setting` as an instruction: "set NAME=value" to a shell's user, the quoted Python line to a caller."""
    return f"set {env_setting(variable, value)}" if speaking_to_cli() else f"`{env_setting(variable, value)}`"


def shown(value) -> str:
    """`value` as a message shows it: its repr, unless that is not one short line (a numpy array's repr runs over
    many lines: `codes=array([[0., ...` split a one-line refusal), then what it is, as `<numpy.ndarray of shape
    (18, 512)>`. Strings and numbers are always their repr, however long: they are what the caller typed. Bytes are
    not: a photo's bytes from a web request, passed as its path, filled the line with 14 KB to 3 MB of escapes."""
    text = repr(value)
    if isinstance(value, (str, int, float)) or ("\n" not in text and len(text) <= _SHOWN_MAX):
        return text
    kind = type(value)
    module = kind.__module__.partition(".")[0]
    name = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(side, int) for side in shape):
        return f"<{name} of shape {shape}>"
    try:
        return f"<{name} of {len(value)} items>"
    except TypeError:  # no length: its type alone
        return f"<{name}>"


_SHOWN_MAX = 80  # characters of a repr that a one-line message still shows whole


def option(name: str, value=_UNSET, *, placeholder: bool = False) -> str:
    """An option named as its reader passes it. `name` is the keyword (`batch_size`); on the command line
    it is the flag (`--batch-size`). With a `value`: "--fps 60" / "fps=60"; a bool gives the flag's on or
    off form ("--no-align" / "align=False"); a tuple is written as the command line takes it ("--face ,1" /
    "face=(None, 1)"). Without: "--fps" / "fps". A `placeholder` value is a word standing for one ("--hold N" /
    "hold=N")."""
    if not _CLI_WORDS.get():
        if value is _UNSET:
            return name
        if placeholder:
            return f"{name}={value}"
        said = f'"{value}"' if isinstance(value, str) and '"' not in value and "\\" not in value else shown(value)
        return f"{name}={said}"
    flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
    if value is _UNSET:
        return flag
    if isinstance(value, bool):
        return flag if value else f"--no-{flag[2:]}"
    if isinstance(value, (tuple, list)):
        return f"{flag} {','.join('' if v is None else str(v) for v in value)}"
    return f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}"


def verb(name: str) -> str:
    """A verb named as its reader runs it: `interp encode` on the command line, encode() to a Python caller (who
    has no `interp` command in hand, only `interp_cli.pipeline`'s functions)."""
    return f"`interp {name}`" if _CLI_WORDS.get() else f"{name}()"


def one_line(err: BaseException | str) -> str:
    """An exception's message (or a text) on one line, whitespace collapsed: every message is one line."""
    return " ".join(str(err).split())


class InterpError(Exception):
    """A failure the user can act on, said in one line (`str(err)`). `exit_code` 1 = runtime failure.

    `path`: the file at fault, as the caller named it (str), where one is: an input (a photo with no face, a file
    that is no image), the weights (damaged, not found, not a checkpoint) or an output that cannot be written (a
    read-only folder, a full disk); else None. Subclasses say what went wrong: `UsageError` (the caller's arguments
    or inputs; `InputError` for an input file itself), `NoFaceError`, `CheckpointError`, `ChecksumError`,
    `WeightsUnavailableError`. An `OSError` the machine raises (disk full, permission) while writing is re-raised as
    an InterpError naming the file, with its `errno`.
    """

    exit_code = 1

    def __init__(self, *args, path: str | os.PathLike | None = None):
        super().__init__(*args)
        self.path = None if path is None else os.fspath(path)


class UsageError(InterpError):
    """Bad input from the user: missing file, not an image, bad option value (exit 2)."""

    exit_code = 2


class InputError(UsageError):
    """An input file that cannot be used as one: missing, unreadable, not an image or not a code of this
    model (exit 2, as any usage error). `path` names it: a service can tell a bad upload from a bad call."""

    def __init__(self, message: str, path: str | os.PathLike):
        super().__init__(message, path=path)


class InterpWarning(UserWarning):
    """What a Python caller's morph warns of (a GIF's frame rate capped, a photo drawn poorly, a cache not
    written), issued through Python's `warnings` when no `log` is given: filter, record or raise these as
    any warning (`warnings.catch_warnings(record=True)`, `warnings.simplefilter("error", InterpWarning)`)."""


class CheckpointError(InterpError):
    """A weights file that is not a usable checkpoint (wrong format, truncated, wrong keys)."""


class WeightsUnavailableError(InterpError):
    """The weights are not on disk and cannot be downloaded (offline, hub unreachable).

    What else to try depends on the command: `--weights PATH` and the demo model are choices for a
    morph, not for `interp weights path`. So the error may carry `advice`, the end of the message per
    command name, and the CLI picks its own with `for_command`, as `Session` ("session"), `pipeline.render`
    ("render") and `download_weights` ("download") do for a Python caller. "" is for any other caller
    (interp_cli.weights' own functions, which take the weights as their first argument, not weights=).
    """

    def __init__(self, message: str, advice: dict[str, str] | None = None):
        self.core, self.advice = message, dict(advice or {})
        super().__init__(message + self.advice.get("", ""))

    def for_command(self, command: str) -> WeightsUnavailableError:
        """The same error, ending in the advice for `interp COMMAND` (unchanged when there is none). The others
        are kept: a Python caller's `render` picks its own from what its `Session` picked, as the CLI does."""
        if command not in self.advice:
            return self
        return WeightsUnavailableError(self.core, {**self.advice, "": self.advice[command]})


class ChecksumError(InterpError):
    """A weights file whose sha256 does not match its preset: refused."""


class NoFaceError(InterpError):
    """Face alignment found no face in an image.

    The alignment code knows only the image's name; what to try instead depends on the command
    (`--no-align` exists for morph and encode, not for `interp align` or `--paste`), so the caller
    adds that advice with `advised`.
    """

    def __init__(self, name: str, advice: str | None = None):
        self.name, self.advice = name, advice
        super().__init__(f"no face found in {name}" + (f" ({advice})" if advice else ""), path=name)

    def advised(self, advice: str) -> NoFaceError:
        """The same error with `advice` (what to try in the caller's context) in place of any other."""
        return NoFaceError(self.name, advice)


# What to try when no face is found: each works where it is given (`align` and `--paste` take no --no-align).
def no_face_advice() -> str:
    return f"pass {option('align', False)} for images that are already aligned crops"


def no_face_advice_paste() -> str:
    return (f"{option('paste', True)} needs photos in which a face can be found; to morph these images as they "
            f"are, drop {option('paste', True)} and pass {option('align', False)}")


def no_face_advice_align() -> str:
    if not _CLI_WORDS.get():
        return ("align() needs a photo in which a face can be found; an image that is already an aligned crop "
                "needs no aligning: morph() and encode() take it with align=False")
    return ("interp align needs a photo in which a face can be found; an image that is already an "
            "aligned crop needs no aligning: morph and encode take it with --no-align")


_WARNINGS_TAKEN = threading.RLock()  # reentrant: a warning issued inside a thread's own caught_warnings is its own


@contextmanager
def caught_warnings(*filters: tuple[str, type[Warning]]) -> Iterator[list]:
    """`warnings.catch_warnings(record=True)` with `filters` ((action, category) pairs) applied inside, one
    thread at a time: the warnings raised meanwhile are recorded in the list it gives, not shown.

    catch_warnings swaps the process-wide filter list and puts back what it found on leaving. Two at once,
    in threads (two morphs in a service's workers), put back each other's: the process was left with
    interp's filters in place of the caller's. interp's own uses take turns here; a caller's own
    catch_warnings in another thread can still overlap one (Python's warnings are process-wide before 3.14).
    """
    with _WARNINGS_TAKEN, warnings.catch_warnings(record=True) as caught:
        for action, category in filters:
            warnings.simplefilter(action, category)
        yield caught


def warn_caller(message: str) -> None:
    """Issue `message` as an `InterpWarning`, located at the first frame outside interp (the caller's own
    `morph(...)` line), as a warning about a call is. Not while another thread is inside `caught_warnings`,
    whose record would take it for that thread's own (a photo's metadata damage)."""
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "interp_cli":
        frame, level = frame.f_back, level + 1
    with _WARNINGS_TAKEN:
        warnings.warn(InterpWarning(message), stacklevel=level)


def face_without_alignment(name: str | None, *, explicit: bool) -> str:
    """Why `--face` cannot apply to an input (`name`; None: to any) that is not aligned: it picks among
    the faces alignment finds. Here, not in interp_cli.session, so `interp batch` can refuse it before
    it imports torch."""
    why = f"{option('align', False)} is given" if explicit else \
        "this model, like the demo preset, takes its inputs as they are"
    return (f"{f'{name}: ' if name else ''}{option('face')} picks among the faces that alignment finds, and "
            f"alignment is off ({why}); drop {option('face')}, or pass {option('align', True)}")


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


def pip_install(args: str) -> str:
    """The command that installs `args` into the Python that runs interp. A bare `pip` may be another
    Python's (a venv's `interp` run by its path, the venv not activated), where the install mends nothing."""
    import shlex

    return f"{shlex.quote(sys.executable)} -m pip install {args}"


def python_line(code: str) -> str:
    """`code`, Python statements, as its reader runs them: to a Python caller the code itself; to a shell's user the
    command that runs it with the Python that runs interp (a bare Python statement is no shell command)."""
    if not speaking_to_cli():
        return code
    import shlex

    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def _missing_requirement(err: BaseException) -> str | None:
    """A dependency interp is installed with, missing from this Python (`pip install --no-deps`, or
    removed since): the environment's fault, not a bug, said with the command that puts it back."""
    if not isinstance(err, ModuleNotFoundError) or not err.name:
        return None
    package = REQUIRED_MODULES.get(err.name.split(".")[0])
    if package is None:
        return None
    return f"{package} is not installed in this Python, and interp needs it: {pip_install(package)}"
