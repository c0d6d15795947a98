"""The few error types the CLI turns into one line on stderr and an exit code (how any failure becomes that
line, and whose fault it is: `failures`).

Library code raises these; `cli.py` catches `InterpError` and prints `str(err)`.
Anything else that escapes is a bug and is reported as such (with a traceback under --debug).

A message names an option the way its reader passes it (`option`): `--fps 60` and `--no-align` on the
command line, `fps=60` and `align=False` to a Python caller. The words are chosen when the message is
made, by whoever runs: the `interp` command says so for its length (`cli_words`); any other caller, in
any thread, gets keywords. One message text serves both.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

from interp_cli.stops import context_set

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
