"""Running a command with file modes binding it, as they bind a user, where the tests run as root."""

from __future__ import annotations

import os
import subprocess

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
