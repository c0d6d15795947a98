"""Which faces alignment finds in big group photos: real faces pasted small on a large canvas.

Usage: python benchmarks/bench_small_faces.py [--mp 12 24 48] [--sizes 80 100 120 ...] [--detector dlib]
       python benchmarks/bench_small_faces.py --one PATH   (find faces in one photo: for /usr/bin/time)

Each canvas (3:2, noisy grey) holds one copy of each test photo's face (tests/data/faces) per size,
scaled so dlib's reference box is that many pixels wide, pasted with its surroundings (the box's
double), left to right in rising size. Prints, per megapixel count, each size's faces found of
those pasted, the wall time of `find_faces` and faces found where none was pasted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FACES = ROOT / "tests" / "data" / "faces"


def face_patches() -> list[Image.Image]:
    """Each reference face with its surroundings (a square twice its dlib box), one per face."""
    reference = json.loads((FACES / "dlib_landmarks.json").read_text())
    patches = []
    for photo, entry in reference.items():
        if photo == "_about":
            continue
        image = ImageOps.exif_transpose(Image.open(FACES / photo)).convert("RGB")
        for face in entry["faces"]:
            left, top, right, bottom = face["box"]
            half = right - left
            centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
            patch = image.crop((round(centre_x - half), round(centre_y - half), round(centre_x + half),
                                round(centre_y + half)))
            patches.append(patch)
    return patches


def group_photo(megapixels: float, sizes: list[int], seed: int = 0) -> tuple[Image.Image, list[tuple]]:
    """A 3:2 canvas of `megapixels` with each face patch at each size (box width in px), and the
    pasted boxes' (centre x, centre y, size)."""
    width = round((megapixels * 1e6 * 1.5) ** 0.5)
    height = round(width / 1.5)
    rng = np.random.default_rng(seed)
    canvas = Image.fromarray(rng.normal(128, 12, (height, width, 3)).clip(0, 255).astype(np.uint8))
    patches = face_patches()
    placed = []
    cells = [(size, patch) for size in sizes for patch in patches]
    columns = int(np.ceil(np.sqrt(len(cells) * 1.5)))
    rows = int(np.ceil(len(cells) / columns))
    cell_w, cell_h = width // columns, height // rows
    for index, (size, patch) in enumerate(cells):
        side = 2 * size
        x = (index % columns) * cell_w + (cell_w - side) // 2
        y = (index // columns) * cell_h + (cell_h - side) // 2
        canvas.paste(patch.resize((side, side), Image.Resampling.LANCZOS), (x, y))
        placed.append((x + size, y + size, size))
    return canvas, placed


def found_sizes(faces, placed) -> tuple[dict, int]:
    hits, stray = {}, 0
    for face in faces:
        left, top, right, bottom = face.box
        cx, cy = (left + right) / 2, (top + bottom) / 2
        match = [p for p in placed if abs(p[0] - cx) < p[2] / 2 and abs(p[1] - cy) < p[2] / 2]
        if match:
            hits[match[0][2]] = hits.get(match[0][2], 0) + 1
        else:
            stray += 1
    return hits, stray


def faces_in(image: Image.Image, detector) -> list:
    """The faces `align_face(face=N)` numbers in `image`. interp_cli is imported here, not at the top, so that
    bench_tilted_faces.py can import this module and still pick the tree interp_cli comes from (--tree)."""
    from interp_cli.align import _detector, _prepare
    from interp_cli.align.detect import dlib_grey, find_faces

    predictor, rgb = _prepare(image)
    return find_faces(predictor, dlib_grey(rgb), _detector(detector))


def searched(canvas: Image.Image, detector, save: Path | None, name: str) -> tuple[list, float]:
    """The faces in a bench canvas and the wall seconds finding them took; the canvas saved as `save`/`name` first
    when asked (for a later --one)."""
    if save:
        save.mkdir(parents=True, exist_ok=True)
        canvas.save(save / name, quality=90)
    start = time.perf_counter()
    faces = faces_in(canvas, detector)
    return faces, time.perf_counter() - start


def count_one(photo: Path, detector) -> None:
    """--one: find the faces in one photo and say how many, and how long that took."""
    start = time.perf_counter()
    faces = faces_in(Image.open(photo).convert("RGB"), detector)
    print(f"{photo}: {len(faces)} faces in {time.perf_counter() - start:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, nargs="+", default=[12, 24, 48])
    parser.add_argument("--sizes", type=int, nargs="+", default=[80, 100, 120, 150, 200, 250, 300, 400])
    parser.add_argument("--detector", default=None)
    parser.add_argument("--one", type=Path, help="only find the faces in this photo and print how many")
    parser.add_argument("--save", type=Path, help="write each canvas here as JPEG (for --one)")
    args = parser.parse_args()
    if args.one:
        return count_one(args.one, args.detector)
    for megapixels in args.mp:
        canvas, placed = group_photo(megapixels, args.sizes)
        faces, wall = searched(canvas, args.detector, args.save, f"group{megapixels:g}mp.jpg")
        hits, stray = found_sizes(faces, placed)
        per = len(placed) // len(args.sizes)
        line = " ".join(f"{size}:{hits.get(size, 0)}/{per}" for size in args.sizes)
        print(f"{megapixels:g} MP {canvas.size[0]}x{canvas.size[1]}: {line}  stray {stray}  {wall:.1f} s")


if __name__ == "__main__":
    main()
