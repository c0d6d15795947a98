"""Camera-sized photos through align, morph and --paste: peak memory and wall time by photo size
(benchmarks/README.md, "Camera-sized photos in, big outputs out, 2026-12-06").

    .venv/bin/python benchmarks/bench_big_photos.py [--mp 12 48 60 100] [--runs 3] [--command align paste]
        [--baseline DIR]

Each photo is tests/data/faces/obama.jpg scaled so the face is about a third of the photo's height, pasted into a
flat grey canvas of that many megapixels at 3:2 (a camera's aspect), saved as JPEG (quality 80). Each command runs
in a fresh process under /usr/bin/time -v (peak RSS, wall), `--runs` times, sizes interleaved so that the VM's
drift spreads over all of them:

    align:  interp align PHOTO -o crop.png
    paste:  interp PHOTO biden.jpg --weights demo --steps 3 --paste -o frames/
    sized:  the same with --size 2000 (frames 2000 px wide), to an .mp4

The demo model keeps the generator's share small: what grows with the photo is decoding, alignment and pasting.
`--baseline DIR` (another checkout, e.g. a `git worktree`) runs each command there too, in turn with this tree, and
prints each round's ratio (this tree / baseline) and whether the two wrote the same bytes. `--kept-in-memory` runs
this tree once more with a --paste morph's kept photos (`interp_cli.kept_photos`) held in memory instead of in a
$TMPDIR file, as the baseline: what the temp file saves at the peak.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from benchmarks.spread import spread  # noqa: E402

FACES = ROOT / "tests" / "data" / "faces"


def photo(folder: Path, megapixels: float) -> Path:
    """A 3:2 JPEG of `megapixels` with a face about a third of its height."""
    width = round((megapixels * 1e6 * 1.5) ** 0.5) // 2 * 2
    height = round(width / 1.5) // 2 * 2
    face = Image.open(FACES / "obama.jpg").convert("RGB")
    scale = height / 3 / face.height
    face = face.resize((round(face.width * scale), round(face.height * scale)), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (width, height), (120, 110, 100))
    canvas.paste(face, ((width - face.width) // 2, (height - face.height) // 2))
    path = folder / f"photo_{megapixels:g}mp.jpg"
    canvas.save(path, quality=80)
    return path


def timed(command: list[str], tree: Path = ROOT, cwd: Path | None = None) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of `command` run with `tree`'s interp_cli, which must succeed. Run it in a
    `cwd` outside every checkout: `python -m` imports the package from the working folder before PYTHONPATH."""
    run = run_child(["/usr/bin/time", "-v", *command], capture_output=True, text=True, cwd=cwd,
                    env={**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"})
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{run.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", run.stderr)
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return rss, seconds


# `python -m interp_cli ARGS` with `kept_photos`' temp file replaced by arrays held in memory.
_KEPT_IN_MEMORY = """
import runpy, sys
from interp_cli import files, kept_photos

class InMemory(files.ArraySpill):
    def put(self, key, array):
        self._where[key] = array.copy()

    def get(self, key):
        return self._where[key].copy()

kept_photos.ArraySpill = InMemory
runpy.run_module("interp_cli", run_name="__main__", alter_sys=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, nargs="+", default=[12, 48, 60, 100])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--command", nargs="+", default=["align", "paste", "sized"],
                        choices=["align", "paste", "sized"])
    parser.add_argument("--baseline", type=Path, help="another checkout, run in turn with this one")
    parser.add_argument("--kept-in-memory", action="store_true",
                        help="the baseline is this tree with a --paste morph's kept photos held in memory")
    args = parser.parse_args()
    interp = [sys.executable, "-m", "interp_cli"]
    trees = {"this": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    if args.kept_in_memory:
        trees = {"this": ROOT, "baseline": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photos = {mp: photo(folder, mp) for mp in args.mp}
        commands = {
            "align": lambda p, out: [*interp, "align", str(p), "-o", str(out / "crop.png"), "-q"],
            "paste": lambda p, out: [*interp, str(p), str(FACES / "biden.jpg"), "--weights", "demo", "--steps", "3",
                                     "--paste", "--no-cache", "-q", "-o", str(out / "frames") + "/"],
            "sized": lambda p, out: [*interp, str(p), str(FACES / "biden.jpg"), "--weights", "demo", "--steps", "3",
                                     "--paste", "--size", "2000", "--no-cache", "-q", "-o", str(out / "m.mp4")],
        }
        results: dict[tuple, list] = {}
        same: dict[tuple, bool] = {}
        for _ in range(args.runs):
            for name in args.command:
                for mp, path in photos.items():
                    written = {}
                    for tree, where in trees.items():
                        out = folder / tree
                        out.mkdir()
                        command = commands[name](path, out)
                        if args.kept_in_memory and tree == "baseline":
                            command[1:3] = ["-c", _KEPT_IN_MEMORY]
                        results.setdefault((name, mp, tree), []).append(timed(command, where, folder))
                        written[tree] = {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest()
                                         for f in sorted(out.rglob("*")) if f.is_file()}
                        run_child(["rm", "-rf", str(out)], check=True)
                    same[(name, mp)] = same.get((name, mp), True) and len({str(w) for w in written.values()}) == 1
        for (name, mp, tree), runs in results.items():
            with warnings.catch_warnings():  # Pillow's DecompressionBombWarning past 89 MP: our own photo
                warnings.simplefilter("ignore")
                size = Image.open(photos[mp]).size
            print(f"{name:6s} {mp:5g} MP {size[0]}x{size[1]} {tree:8s}: peak RSS MB "
                  f"{spread([r[0] for r in runs], '{:.0f}')}, wall s {spread([r[1] for r in runs], '{:.1f}')}")
            if tree == "baseline":
                mine = results[(name, mp, "this")]
                print(f"{'':6s} {mp:5g} MP this / baseline, by round: peak RSS "
                      f"{spread([a[0] / b[0] for a, b in zip(mine, runs)], '{:.3f}')}, wall "
                      f"{spread([a[1] / b[1] for a, b in zip(mine, runs)], '{:.3f}')}; same bytes: {same[(name, mp)]}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_big_photos"))
