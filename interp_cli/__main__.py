"""The `interp` command's entry point (`python -m interp_cli`, and the console script setup.cfg declares).

Its first step holds Ctrl-C and SIGTERM (`stops.hold_stops_at_start`), before the command's own imports:
a scheduler's SIGTERM in those ~0.1 s (more on a loaded machine) ended the process by the signal, not
with main's one line and exit 143. Only `interp_cli` (no torch, no click) and `stops` load before it.
"""

from interp_cli.stops import hold_stops_at_start


def main() -> None:
    hold_stops_at_start()
    from interp_cli.cli import run

    run()


if __name__ == "__main__":
    main()
