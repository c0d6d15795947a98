"""What a command says, and where: results on stdout, progress and errors on stderr, --json's lines.

Under --json a command's stdout ends in one JSON object whatever happens: its summary, a batch's summary (which
says a stop or an error itself), or a failure's object (`failure_json`: "error", "exit_code", "path").

`interp_cli.cli` parses the options and calls the pipeline; what comes back reaches the user through here:
`out` for stdout (a reader gone away is `StdoutClosed`, exit 141), `emit` for a command's closing summary (its
JSON line, or a line on stderr), `CommandLog` for the lines said meanwhile (--json keeps its warnings for the
JSON), and `settle_std_streams` for standard streams that cannot fail the process (closed, or a full stderr).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import weakref
from contextlib import AbstractContextManager
from contextvars import ContextVar

import click

from interp_cli.errors import InterpError
from interp_cli.failures import environment_error
from interp_cli.names import as_typed, line_text


class StdoutClosed(Exception):
    """Whoever read our stdout has gone (`interp ... --json | head -c1`): nothing left to say."""


def out(text: str) -> None:
    """Print a line of results on stdout; a reader that has gone away becomes StdoutClosed."""
    if sys.stdout is None:  # started with stdout closed (`>&-`) and not through cli.run(): click would drop the line
        raise StdoutClosed()
    try:
        click.echo(text)
    except BrokenPipeError:
        raise StdoutClosed() from None
    except OSError as err:  # `--json > log` on a full disk: say which file, as for any other output
        raise environment_error(err, "standard output", at_fault=False) from None


@contextlib.contextmanager
def debug_notes(on: bool):
    """Under --debug, interp's own notes (e.g. a damaged cache entry recomputed) go to stderr while the
    command runs; the "interp_cli" logger is then as it was (it was left at DEBUG with a stderr handler,
    so a Python caller's later morphs printed "interp: debug: ..." lines)."""
    if not on:
        yield
        return
    import logging

    class StderrNotes(logging.Handler):
        def emit(self, record):  # sys.stderr as it is at each note (tests swap it)
            print(f"interp: debug: {record.getMessage()}", file=sys.stderr, flush=True)

    logger, handler = logging.getLogger("interp_cli"), StderrNotes()
    level = logger.level
    try:  # set inside: a stop landing as they are set (a caller's SIGTERM handler's) still puts both back
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def silence_stdout() -> None:
    # Point fd 1 at /dev/null, so the interpreter's final flush has nowhere to fail ("Exception ignored").
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def json_line(value) -> str:
    """One JSON line of results. File names that are not UTF-8 have U+FFFD for their undecodable bytes
    (interp_cli.names.utf8_text): json.dumps would write Python's lone surrogates, which strict parsers refuse."""
    from interp_cli.names import utf8_names

    return json.dumps(utf8_names(value), sort_keys=True)


# Set by the CLI's main for one command: whether that command has printed the JSON line that closes its output (a
# batch's summary, which says a stop or an error itself), so a failure's own JSON object is not printed after it.
_CLOSED: ContextVar[list | None] = ContextVar("interp_json_closed", default=None)


def closing_json(value: dict) -> None:
    """Print the JSON line that closes a command's output (`--json`'s last line), noted for `json_closed`."""
    out(json_line(value))
    closed = _CLOSED.get()
    if closed is not None:
        closed.append(True)


def one_command() -> AbstractContextManager[None]:
    """The block of one command's run, for `json_closed` (the CLI's main)."""
    from interp_cli.stops import context_set

    return context_set(_CLOSED, [])


def json_closed() -> bool:
    """Whether the command that runs has printed its closing JSON line (`closing_json`)."""
    return bool(_CLOSED.get())


def emit(summary: dict, log: CommandLog, quiet: bool, text: str) -> None:
    """A command's closing summary: under --json its JSON line on stdout, with the warnings `log` kept for it
    (`with_warnings`); else `text` on stderr, unless --quiet."""
    if log.as_json:
        closing_json(with_warnings(summary, log))
    elif not quiet:
        click.echo(text, err=True)


class CommandLog:
    """The `log` a command hands down. Lines go to stderr (above any progress bar) unless --quiet or --json;
    under --json, "warning: ..." lines are kept instead, for the JSON's "warnings" list (`take`): stdout is
    the JSON a script reads, so that is where they reach it, each once (the likeness warnings too, beside
    each entry's `poor`). --quiet alone asks for errors only, and gets them."""

    def __init__(self, quiet: bool, as_json: bool = False):
        self.quiet, self.as_json = quiet or as_json, as_json
        self.warnings: list[str] = []
        if as_json:
            _JSON_LOGS.add(self)
        while PROCESS_WARNINGS:  # said by the command's first log, as its own (under --json: in "warnings")
            self(PROCESS_WARNINGS.pop(0))

    def __call__(self, message: str) -> None:
        if self.as_json and message.startswith("warning: "):
            self.warnings.append(message[len("warning: "):])
        elif not self.quiet:
            from interp_cli.progress import message as print_line  # keeps an open progress bar intact

            # One line each: a name in it with a line break or an escape sequence ("warning: $'a\e[2J.png': ...")
            # neither splits it nor drives the terminal.
            print_line(line_text(message))

    def take(self) -> list[str]:
        """The warnings kept since the last `take`."""
        taken, self.warnings = self.warnings, []
        return taken


# Warnings about the process's own setting, found before any command ran (`cli._tune_own_process`), for the log of
# the command that then runs.
PROCESS_WARNINGS: list[str] = []
_JSON_LOGS: weakref.WeakSet[CommandLog] = weakref.WeakSet()  # the --json logs alive, for `say_kept_warnings`


def say_kept_warnings(say: bool = True) -> list[str]:
    """The warnings a failed command's --json log kept for it ("photo.jpg: its embedded colour profile cannot be
    used ..."), said on stderr before the error's line, as they would have been without --json (a script that
    reads only stderr lost them), unless not `say` (a stop's stderr is its one line), and returned for the
    failure's JSON object."""
    kept = []
    for log in list(_JSON_LOGS):
        kept += log.take()
    for warning in kept if say else ():
        click.echo(f"warning: {line_text(warning)}", err=True)
    return kept


def failure_json(error: str, exit_code: int, *, path: str | None = None, warnings=(), **more) -> None:
    """Under --json, a failed or stopped command's one JSON object on stdout, beside its line on stderr: "error"
    (that line's words), "exit_code", "path" (the file at fault, an input, the weights or an unwritable output, as a
    Python caller's error's `.path`; else null), "warnings", and `more` ("stopped": true; a batch's "summary":
    true). Not after the command's own closing line (a batch's summary says its stop or error itself). A script
    piping stdout to `jq` or `json.load` got nothing to parse ("Expecting value"), where a batch row's failure had
    its JSON line."""
    if json_closed():
        return
    try:
        out(json_line({"error": error, "exit_code": exit_code, "path": path, "warnings": list(warnings), **more}))
    except (StdoutClosed, InterpError):  # no one reads stdout, or it is a full disk: the stderr line is said
        pass


def with_warnings(summary: dict, log: CommandLog) -> dict:
    return {**summary, "warnings": log.take()} if log.as_json else summary


def settle_std_streams() -> None:
    """Give the process standard streams that cannot fail it, before anything opens a file.

    A descriptor 0, 1 or 2 that the caller closed (`interp ... >&-`, `2>&-`) is filled first: else
    the next file opened (an output's temp file) would take its number, and whatever writes to "stderr"
    (ffmpeg's children, a C library's warning) would write into the output. A closed stdout becomes a
    pipe with no reader, so it behaves as `| head -c0` does: --json ends in exit 141 (the output itself
    complete), a command that prints nothing exits 0. stderr only ever carries progress, notes,
    warnings and the error line, none worth the work: `_UnfailingStream` drops what a closed or full
    stderr (`2>/dev/full`) refuses, and the exit code still tells success from failure.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        if fd == 1:
            reader, writer = os.pipe()
            if writer != 1:
                os.dup2(writer, 1)
                os.close(writer)
            if reader != 1:  # else dup2 has just closed it (its only descriptor)
                os.close(reader)
        else:
            null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
    if _ascii(sys.stderr) and hasattr(sys.stderr, "reconfigure"):
        # click takes an ASCII stream (PYTHONIOENCODING=ascii, a C locale with no UTF-8 coercion) for a misconfigured
        # one and writes UTF-8 to its buffer itself, past the wrapper below: a full stderr then failed a finished
        # morph (exit 1), and a name's undecodable byte came out as "?". UTF-8 here is what click wrote anyway.
        sys.stderr.reconfigure(encoding="utf-8", errors="backslashreplace")
    if not isinstance(sys.stderr, _UnfailingStream):
        sys.stderr = _UnfailingStream(sys.stderr)


def _ascii(stream) -> bool:
    import codecs

    try:
        return codecs.lookup(getattr(stream, "encoding", None) or "ascii").name == "ascii"
    except LookupError:
        return False


class _UnfailingStream:
    """A text stream (stderr) whose write and flush never raise: what it cannot write is dropped.

    Progress bars, notes and warnings are written from deep inside the work; an EPIPE or ENOSPC
    there must not abort a morph whose output is fine. Everything else (isatty, fileno, encoding)
    is the wrapped stream's.
    """

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            self._stream.write(as_typed(text))
        except (OSError, ValueError):
            pass
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)
