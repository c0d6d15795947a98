"""Running a command with file modes binding it, as they bind a user, where the tests run as root; and a file
marked (`chattr +i`, `+a`) so that not even root removes it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def file_modes_binding() -> list[str]:
    """The words that run a command with file modes binding it: none for a user, `setpriv` dropping the
    capabilities by which root reads and searches any folder (else the test is skipped)."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps=-all"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
    except OSError:
        probe = None
    if probe is None or probe.returncode != 0:
        pytest.skip("as root, needs setpriv(1) to make file modes bind")
    return prefix


@contextmanager
def file_attribute(path: Path, flag: str, *, cleared_under: Path | None = None) -> Iterator[None]:
    """Over the block, `path` marked with `chattr +flag` (`i` immutable, `a` append-only: not even root removes it);
    after it the mark cleared, on `path` or on everything under `cleared_under` (where the file may have moved).
    The test is skipped where the file system takes no such attributes."""
    if subprocess.run(["chattr", f"+{flag}", str(path)], capture_output=True).returncode:
        pytest.skip("needs chattr(1) on a file system with file attributes, as root")
    try:
        yield
    finally:
        cleared = ["-R", f"-{flag}", str(cleared_under)] if cleared_under is not None else [f"-{flag}", str(path)]
        subprocess.run(["chattr", *cleared], check=True)
