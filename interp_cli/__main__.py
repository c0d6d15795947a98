"""The `interp` command's entry point (`python -m interp_cli`, and the console script setup.cfg declares).

Its first step holds Ctrl-C, SIGTERM and SIGHUP (`stops_at_start.hold_stops_at_start`), before the command's own
imports: a scheduler's SIGTERM in those ~0.1 s (more on a loaded machine) ended the process by the signal, not with
main's one line and exit 143, and a Ctrl-C there ended in Python's traceback. Only `interp_cli` (no imports) and
`stops_at_start` (only the built-in `_signal`) load before it; stops.py, click and the rest load after.
"""

from interp_cli.stops_at_start import hold_stops_at_start


def main() -> None:
    hold_stops_at_start()
    from interp_cli.cli import run

    run()


if __name__ == "__main__":
    main()
