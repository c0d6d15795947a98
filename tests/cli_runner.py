"""The one way tests build a click CliRunner: stdout and stderr apart, as a terminal and pipes see them.

click < 8.2 mixes stderr into stdout unless told not to (and `result.stderr` then raises); click >= 8.2
always keeps them apart and no longer takes `mix_stderr`. setup.cfg allows click>=8.0, and
`make test-lowest` runs the suite on 8.0.
"""

from __future__ import annotations

from click.testing import CliRunner


def cli_runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:
        return CliRunner()
