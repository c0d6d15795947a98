"""How a failure becomes one line and an exit code (interp_cli.errors)."""

from __future__ import annotations

import errno

from interp_cli.errors import InterpError, UsageError, WeightsUnavailableError, environment_error, reported


def test_environment_error_exit_codes():
    full = environment_error(OSError(errno.ENOSPC, "No space left on device"), "out.gif")
    assert type(full) is InterpError and full.exit_code == 1 and str(full).startswith("out.gif: ")
    big = environment_error(OSError(errno.EFBIG, "File too large"), "out.gif")
    assert big.exit_code == 1 and "file too large" in str(big)
    denied = environment_error(OSError(errno.EROFS, "Read-only file system"), "out.gif")
    assert isinstance(denied, UsageError) and denied.exit_code == 2


def test_a_command_and_a_batch_row_tell_a_failure_alike():
    """One rule for `interp`'s stderr line and a batch row's error; a row's names its output where
    nothing else names a file. (The row used to advise the morph's options for any command, and the
    command line called a vanished input an internal error.)"""
    def told(err, command="morph", output=None):
        error, internal = reported(err, command, output)
        return str(error), error.exit_code, internal

    assert told(MemoryError(), "align") == ("out of memory (try a smaller --size)", 1, False)
    assert told(MemoryError(), "encode") == ("out of memory", 1, False)
    assert told(MemoryError(), "batch", "out/x.gif") == ("out/x.gif: out of memory (try a smaller --batch-size "
                                                         "or --size)", 1, False)
    gone = FileNotFoundError(errno.ENOENT, "No such file or directory", "a.png")
    assert told(gone) == told(gone, "batch", "out/x.gif") == ("a.png: No such file or directory", 1, False)
    assert told(OSError(errno.ENOSPC, "No space left on device"), "batch", "out/x.gif")[:2] == (
        "out/x.gif: cannot write: no space left on device; free some space or write elsewhere", 1)
    assert told(KeyError("k")) == ("internal error: KeyError: 'k'", 1, True)
    assert told(KeyError("k"), "batch", "x.gif") == ("x.gif: internal error: KeyError: 'k'", 1, True)
    assert told(UsageError("--steps: bad")) == ("--steps: bad", 2, False)
    offline = WeightsUnavailableError("ffhq: not downloaded", {"morph": "try --weights demo"})
    assert "try --weights demo" in told(offline)[0]
