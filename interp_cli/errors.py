"""The few error types the CLI turns into one line on stderr and an exit code.

Library code raises these; `cli.py` catches `InterpError` and prints `str(err)`.
Anything else that escapes is a bug and is reported as such (with a traceback under --debug).
"""


class InterpError(Exception):
    """A failure the user can act on. `exit_code` 1 = runtime failure."""

    exit_code = 1


class UsageError(InterpError):
    """Bad input from the user: missing file, not an image, bad option value (exit 2)."""

    exit_code = 2


class CheckpointError(InterpError):
    """A weights file that is not a usable checkpoint (wrong format, truncated, wrong keys)."""


class WeightsUnavailableError(InterpError):
    """The weights are not on disk and cannot be downloaded (offline, hub unreachable)."""


class ChecksumError(InterpError):
    """A weights file whose sha256 does not match its preset: refused."""


class NoFaceError(InterpError):
    """Face alignment found no face in an image."""
