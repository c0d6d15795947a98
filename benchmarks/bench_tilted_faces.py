"""Which small tilted faces alignment finds in big photos: real faces pasted small and turned on a large canvas.

Usage: python benchmarks/bench_tilted_faces.py [--mp 24 60] [--sizes 100 125 160 200] [--tilts 0 10 20 30 45]
                                               [--tree DIR] [--detector dlib] [--landmarks OUT.npz]
       python benchmarks/bench_tilted_faces.py --long-side 1200 1600 2048 2400 --sizes 70 100 125 160 200
                                               (mid-size photos: as many canvases of that size as the faces need)
       python benchmarks/bench_tilted_faces.py --one PATH [--tree DIR]   (find faces in one photo: for /usr/bin/time)
       python benchmarks/bench_tilted_faces.py --mp 60 --save DIR        (also write each canvas as JPEG)

Each canvas (3:2, noisy grey) holds one copy of each test photo's face (tests/data/faces) per size and
tilt: the photo is turned by the tilt (counter-clockwise for every other face, clockwise for the rest),
then the square twice its dlib reference box around the face is cut out, scaled so the box is that many
pixels wide (about 0.4 of it is the distance between the eyes) and pasted; --long-side makes 3:2 canvases of
that long side instead, as many as it takes for each face to have a cell of its own (one size per canvas,
faces of every tilt side by side), and adds up their counts. The truth is dlib's reference
landmarks moved with it. Prints, per megapixel count and tilt, each size's faces found of those pasted,
how many of those align well (tests/align_cases.py's FFHQ-quad check: centre within 5% of the quad's
side, side within 10%, angle within 5 degrees), faces found where none was pasted, and the wall time
of `find_faces`; --candidates also counts the second search's candidates on no pasted face. --tree
imports interp_cli from DIR (e.g. `git archive 2c5b09e interp_cli | tar -x -C DIR`), so two trees can be
compared on the same canvases; --landmarks writes every found face's landmarks, canvas by canvas, to an .npz, so
that two trees' fits can be compared (`--compare A.npz B.npz`: are B's faces on A's faces bit-identical?).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_small_faces import count_one, searched  # noqa: E402


def _import_tree(tree: Path | None):
    sys.path.insert(0, str(ROOT))
    if tree is not None:
        sys.path.insert(0, str(tree))
    import interp_cli

    return interp_cli


def turned_patches(tilt: float) -> list[tuple[Image.Image, np.ndarray]]:
    """Each reference face turned by `tilt` degrees (every other one the other way), cut out with its
    surroundings (a square twice its dlib box): (patch, its landmarks in the patch's pixels)."""
    from tests.align_cases import PHOTOS, load, rotate_image, truth_landmarks

    patches = []
    index = 0
    for photo in PHOTOS:
        image = load(photo)
        for face, truth in zip(_reference_boxes(photo), truth_landmarks(photo)):
            degrees = tilt if index % 2 == 0 else -tilt
            index += 1
            rotated, matrix = rotate_image(image, degrees) if degrees else (image, np.eye(2, 3))
            left, top, right, bottom = face
            half = right - left
            centre = matrix[:, :2] @ [(left + right) / 2, (top + bottom) / 2] + matrix[:, 2]
            x0, y0 = round(centre[0] - half), round(centre[1] - half)
            patch = rotated.crop((x0, y0, x0 + 2 * half, y0 + 2 * half))
            points = truth @ matrix[:, :2].T + matrix[:, 2] - [x0, y0]
            patches.append((patch, points))
    return patches


def _reference_boxes(photo: str) -> list:
    from tests.align_cases import REFERENCE

    return [face["box"] for face in REFERENCE[photo]["faces"]]


def canvas_with_faces(megapixels: float, sizes: list[int], tilts: list[float], seed: int = 0):
    """A 3:2 canvas of `megapixels` with each turned face patch at each size and tilt; and per
    pasted face (tilt, size, truth landmarks [68, 2] in canvas pixels)."""
    width = round((megapixels * 1e6 * 1.5) ** 0.5)
    height = round(width / 1.5)
    rng = np.random.default_rng(seed)
    canvas = Image.fromarray(rng.normal(128, 12, (height, width, 3)).clip(0, 255).astype(np.uint8))
    cells = [(tilt, size, patch) for tilt in tilts for patch in turned_patches(tilt) for size in sizes]
    columns = math.ceil(math.sqrt(len(cells) * 1.5))
    rows = math.ceil(len(cells) / columns)
    cell_w, cell_h = width // columns, height // rows
    placed = []
    for index, (tilt, size, (patch, points)) in enumerate(cells):
        side = 2 * size
        x = (index % columns) * cell_w + (cell_w - side) // 2
        y = (index // columns) * cell_h + (cell_h - side) // 2
        canvas.paste(patch.resize((side, side), Image.Resampling.LANCZOS), (x, y))
        scale = side / patch.size[0]
        placed.append((tilt, size, (points + 0.5) * scale - 0.5 + [x, y]))
    return canvas, placed


def canvases_of_long_side(long_side: int, sizes: list[int], tilts: list[float], seed: int = 0):
    """3:2 canvases of `long_side` px holding each turned face patch at each size and tilt, one size per canvas
    and as many canvases as it takes for every patch (twice the box) to have a cell of its own with a margin:
    [(name, canvas, placed)] as `canvas_with_faces` gives them."""
    width, height = long_side, round(long_side / 1.5)
    patches = {tilt: turned_patches(tilt) for tilt in tilts}
    rng = np.random.default_rng(seed)
    out = []
    for size in sizes:
        cell = 2 * size + 16
        columns, rows = width // cell, height // cell
        if not columns or not rows:
            raise SystemExit(f"a {size} px face does not fit a {width}x{height} canvas")
        cells = [(tilt, patch) for tilt in tilts for patch in patches[tilt]]
        per_canvas = columns * rows
        for start in range(0, len(cells), per_canvas):
            canvas = Image.fromarray(rng.normal(128, 12, (height, width, 3)).clip(0, 255).astype(np.uint8))
            placed = []
            for index, (tilt, (patch, points)) in enumerate(cells[start:start + per_canvas]):
                side = 2 * size
                x = (index % columns) * (width // columns) + (width // columns - side) // 2
                y = (index // columns) * (height // rows) + (height // rows - side) // 2
                canvas.paste(patch.resize((side, side), Image.Resampling.LANCZOS), (x, y))
                scale = side / patch.size[0]
                placed.append((tilt, size, (points + 0.5) * scale - 0.5 + [x, y]))
            out.append((f"tilted{long_side}px-{size}-{start // per_canvas}.jpg", canvas, placed))
    return out


def compare_dumps(before: Path, after: Path) -> None:
    """--compare: whether every face in `before`'s dump comes back, with bit-identical landmarks, in `after`'s."""
    a, b = np.load(before, allow_pickle=False), np.load(after, allow_pickle=False)
    kept = changed = lost = 0
    for name in a.files:
        theirs = b[name] if name in b.files else np.zeros((0, 68, 2))
        for face in a[name]:
            if any(np.array_equal(face, other) for other in theirs):
                kept += 1
            elif any(np.abs(face.mean(axis=0) - other.mean(axis=0)).max() < 5 for other in theirs):
                changed += 1
            else:
                lost += 1
        print(f"{name}: {len(a[name])} faces before, {len(theirs)} after")
    print(f"faces of {before.name} in {after.name}: {kept} bit-identical, {changed} moved, {lost} lost")


def _candidates_off_faces(canvas: Image.Image, placed) -> str:
    """How many of the second search's candidates (upright copy, turned copies) lie on no pasted
    face: what its checks had to turn down for the stray count to stay 0."""
    from interp_cli.align import detect

    grey = detect.dlib_grey(np.asarray(canvas))
    if hasattr(detect, "second_search"):
        fine, groups = detect.second_search(grey.shape) or (None, ())
    else:  # a tree before the mid-size search (773da87 and older)
        fine, groups = detect.fine_long_side(grey.shape), ((0.0,), getattr(detect, "_FINE_ANGLES", ()))
    centres = np.array([points.mean(axis=0) for _, _, points in placed])
    sizes = np.array([size for _, size, _ in placed])
    counts = []
    for angles in groups:
        off = 0
        for candidate in detect.haar_candidates(grey, angles, fine) if angles and fine else []:
            left, top, right, bottom = candidate.box
            distance = np.hypot(*(centres - [(left + right) / 2, (top + bottom) / 2]).T)
            off += bool((distance > sizes).all())
        counts.append(f"{angles}: {off}")
    return "second search's candidates on no pasted face: " + ", ".join(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, nargs="+", default=[24, 60])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 125, 160, 200])
    parser.add_argument("--tilts", type=float, nargs="+", default=[0, 10, 20, 30, 45])
    parser.add_argument("--long-side", type=int, nargs="+",
                        help="mid-size photos: canvases of these long sides (px) instead of --mp")
    parser.add_argument("--detector", default=None)
    parser.add_argument("--landmarks", type=Path, help="write the found faces' landmarks here (.npz)")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                        help="only compare two --landmarks dumps")
    parser.add_argument("--tree", type=Path, help="import interp_cli from this folder")
    parser.add_argument("--one", type=Path, help="only find the faces in this photo and print how many")
    parser.add_argument("--save", type=Path, help="write each canvas here as JPEG (for --one)")
    parser.add_argument("--candidates", action="store_true",
                        help="also count the second search's candidates that lie on no pasted face")
    args = parser.parse_args()
    package = _import_tree(args.tree)
    print(f"interp_cli from {Path(package.__file__).parent}")
    if args.one:
        return count_one(args.one, args.detector)
    if args.compare:
        return compare_dumps(*args.compare)
    from tests.align_cases import score

    if args.long_side:
        photos = [(f"{side} px", canvases_of_long_side(side, args.sizes, args.tilts)) for side in args.long_side]
    else:
        photos = []
        for megapixels in args.mp:
            canvas, placed = canvas_with_faces(megapixels, args.sizes, args.tilts)
            photos.append((f"{megapixels:g} MP", [(f"tilted{megapixels:g}mp.jpg", canvas, placed)]))
    dump = {}
    for label, canvases in photos:
        table: dict = {}
        stray = wall = 0.0
        for name, canvas, placed in canvases:
            faces, seconds = searched(canvas, args.detector, args.save, name)
            dump[name] = np.array([face.landmarks for face in faces]).reshape(-1, 68, 2)
            result = score("canvas", "tilted", [face.landmarks for face in faces], [p[2] for p in placed])
            stray, wall = stray + result.false_faces, wall + seconds
            for (tilt, size, _), match in zip(placed, result.matches):
                found, good, total = table.get((tilt, size), (0, 0, 0))
                table[tilt, size] = (found + (match is not None), good + bool(match and match.passed), total + 1)
            if args.candidates:
                print(f"  {name}: " + _candidates_off_faces(canvas, placed))
        width, height = canvases[0][1].size
        print(f"{label} {width}x{height}, {len(canvases)} canvases: stray {stray:g}, {wall:.1f} s"
              "  (found/pasted, aligned well in brackets)")
        for tilt in args.tilts:
            line = "  ".join(f"{size}:{table[tilt, size][0]}/{table[tilt, size][2]} ({table[tilt, size][1]})"
                             for size in args.sizes)
            print(f"  tilt {tilt:>4g}: {line}")
    if args.landmarks:
        np.savez(args.landmarks, **dump)

if __name__ == "__main__":
    main()
