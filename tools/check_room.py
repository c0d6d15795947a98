"""Refuse, in one line and at once, to start the test suite where its temp folder's disk has too little room for it.

    python tools/check_room.py --need-gb 4 [--what "make test"]

The suite writes its files (the session's cache dir, pytest's base temp: a 683 MB golden checkpoint, trained
models, big photos) under Python's temp folder (`tempfile.gettempdir()`: $TMPDIR, else /tmp), as pytest does. A CI
run on a disk with 1.9 GB free failed after minutes, with errors far from the cause (a pytest INTERNALERROR, 679
fixture errors); `make test` runs this first. The figure is the Makefile's (SUITE_ROOM_GB, measured: benchmarks/
README.md, 2026-12-07). Only the standard library and interp_cli.progress, run by the system's Python: it runs before
`make install` has made the venv.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interp_cli.progress import human_size  # the checkout's, not an installed one


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--need-gb", type=float, required=True, help="the room the suite needs at its peak")
    parser.add_argument("--what", default="make test", help="what is refused, as the line's first words")
    args = parser.parse_args()
    folder = tempfile.gettempdir()
    need = int(args.need_gb * 1e9)
    try:
        free = shutil.disk_usage(folder).free
    except OSError as err:  # pytest would fail there too, in its own words: said here first
        print(f"{args.what}: cannot look at the temp folder {folder} ({err.strerror or err})", file=sys.stderr)
        return 1
    if free < need:
        print(f"{args.what}: the temp folder {folder} has {human_size(free)} free, and the suite needs about "
              f"{human_size(need)} there at its peak: free some room on that disk, or set TMPDIR to a folder on one "
              f"with more (`{args.what} SUITE_ROOM_GB=0` skips this check)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
