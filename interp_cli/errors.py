"""The few error types the CLI turns into one line on stderr and an exit code.

Library code raises these; `cli.py` catches `InterpError` and prints `str(err)`.
Anything else that escapes is a bug and is reported as such (with a traceback under --debug).
"""

from __future__ import annotations


def one_line(err: BaseException | str) -> str:
    """An exception's message (or a text) on one line, whitespace collapsed: every message is one line."""
    return " ".join(str(err).split())


class InterpError(Exception):
    """A failure the user can act on. `exit_code` 1 = runtime failure."""

    exit_code = 1


class UsageError(InterpError):
    """Bad input from the user: missing file, not an image, bad option value (exit 2)."""

    exit_code = 2


class CheckpointError(InterpError):
    """A weights file that is not a usable checkpoint (wrong format, truncated, wrong keys)."""


class WeightsUnavailableError(InterpError):
    """The weights are not on disk and cannot be downloaded (offline, hub unreachable).

    What else to try depends on the command: `--weights PATH` and the demo model are choices for a
    morph, not for `interp weights path`. So the error may carry `advice`, the end of the message per
    command name ("" for any other caller), and the CLI picks its own with `for_command`.
    """

    def __init__(self, message: str, advice: dict[str, str] | None = None):
        self.core, self.advice = message, dict(advice or {})
        super().__init__(message + self.advice.get("", ""))

    def for_command(self, command: str) -> WeightsUnavailableError:
        """The same error, ending in the advice for `interp COMMAND` (unchanged when there is none)."""
        if command not in self.advice:
            return self
        return WeightsUnavailableError(self.core, {"": self.advice[command]})


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
        super().__init__(f"no face found in {name}" + (f" ({advice})" if advice else ""))

    def advised(self, advice: str) -> NoFaceError:
        """The same error with `advice` (what to try in the caller's context) in place of any other."""
        return NoFaceError(self.name, advice)
