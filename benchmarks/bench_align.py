"""Time face alignment (detection + landmarks + FFHQ crop) per detector, and score the robustness matrix.

Usage: python benchmarks/bench_align.py [--image PATH] [--long-side 1000] [--size 1024] [--runs 7] [--matrix] [--sweep]

For each installed detector ("dlib": dlib's HOG detector from the dlib-bin wheel, searched at
three angles; "haar": OpenCV's cascades, searched at three angles), prints the median wall and
CPU time of `align_face` on the photo resized to --long-side, after one warm-up run (which pays
for loading the models once per process), split into its stages. CPU time is the steadier
number on a busy machine. --matrix also runs the 55-face robustness matrix of
tests/align_cases.py for each detector and for dlib's own HOG detector + shape predictor (the
reference the issue measured: upsampled once, upright boxes), printing the faces passed, the
false faces and the time per photo. --sweep turns each photo by -60..60 degrees in 5 degree
steps and prints, per detector, how many of its faces pass (a + per false face).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interp_cli.align import align_face, alignment_available, face_detectors  # noqa: E402
from interp_cli.align.detect import (  # noqa: E402
    dlib_grey,
    find_faces,
    haar_candidates,
    hog_candidates,
)
from interp_cli.align.ffhq import ffhq_quad, render_aligned  # noqa: E402
from interp_cli.align.landmarks import load_shape_predictor, model_path  # noqa: E402


def _timed(fn, *args, **kwargs):
    """(result, wall seconds, process CPU seconds) of fn(*args, **kwargs)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _ms(values) -> str:
    low, high = min(values) * 1000, max(values) * 1000
    return f"median {statistics.median(values) * 1000:7.1f} ms (min {low:6.1f}, max {high:6.1f})"


def time_photo(image: Image.Image, detector: str, size: int, runs: int) -> None:
    predictor = load_shape_predictor()
    rgb = np.asarray(image)
    candidates_of = {
        "dlib": lambda grey: hog_candidates(grey) + haar_candidates(grey, (0.0,)),  # as find_faces does
        "haar": haar_candidates,
    }[detector]
    align_face(image, output_size=size, detector=detector)  # warm-up: detector load, first-call allocations
    stages: dict[str, list[float]] = {
        "align_face wall": [],
        "align_face CPU": [],
        "  grey": [],
        "  candidates": [],
        "  fit+verify": [],
        "  ffhq crop": [],
    }
    for _ in range(runs):
        _, seconds, cpu = _timed(align_face, image, output_size=size, detector=detector)
        stages["align_face wall"].append(seconds)
        stages["align_face CPU"].append(cpu)
        grey, seconds, _ = _timed(dlib_grey, rgb)
        stages["  grey"].append(seconds)
        _, candidates_seconds, _ = _timed(candidates_of, grey)
        stages["  candidates"].append(candidates_seconds)
        faces, seconds, _ = _timed(find_faces, predictor, grey, detector)
        stages["  fit+verify"].append(max(0.0, seconds - candidates_seconds))
        quad = ffhq_quad(faces[0].landmarks)
        _, seconds, _ = _timed(render_aligned, rgb, quad, size)
        stages["  ffhq crop"].append(seconds)
    print(f"detector {detector}:")
    for stage, values in stages.items():
        print(f"  {stage:18s} {_ms(values)}")


def dlib_reference():
    """dlib's own detector (upsampled once) + shape predictor, as the reference landmarks were made."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(model_path()))

    def find(image: Image.Image) -> list[np.ndarray]:
        rgb = np.asarray(image)
        shapes = [predictor(rgb, rect) for rect in detector(rgb, 1)]
        return [np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64) for shape in shapes]

    return find


def run_matrix(detectors: list[str]) -> None:
    from tests.align_cases import all_cases, make_case, score

    cases = [(case, *make_case(*case)) for case in all_cases()]
    finders = {name: (lambda image, name=name: [f.landmarks for f in _detect(image, name)]) for name in detectors}
    if "dlib" in detectors:
        finders["dlib's own (reference)"] = dlib_reference()
    print(f"robustness matrix: {len(cases)} photos, {sum(len(t) for _, _, t in cases)} faces")
    for name, find in finders.items():
        find(cases[0][1])  # warm-up
        passed = false_faces = 0
        walls, cpus, misses = [], [], []
        for case, image, truth in cases:
            found, wall, cpu = _timed(find, image)
            walls.append(wall)
            cpus.append(cpu)
            result = score(*case, found, truth)
            passed += sum(result.passed)
            false_faces += result.false_faces
            misses += [f"{case[0]} {case[1]}" for ok in result.passed if not ok]
        print(f"  {name:24s} {passed}/55 passed, {false_faces} false faces")
        print(f"  {'':24s} per photo: wall {_ms(walls)}, CPU {_ms(cpus)}")
        if misses:
            print(f"  {'':24s} missed: {', '.join(misses)}")


def run_sweep(detectors: list[str]) -> None:
    """Each photo turned by -60..60 degrees in 5 degree steps: faces passed (+ one per false face)."""
    from tests.align_cases import PHOTOS, load, rotate_image, score, truth_landmarks

    angles = range(-60, 61, 5)
    print(f"tilt sweep, counter-clockwise degrees: {' '.join(f'{a:>3d}' for a in angles)}")
    for detector in detectors:
        for photo in PHOTOS:
            row = []
            for angle in angles:
                turned, matrix = rotate_image(load(photo), angle)
                truth = [points @ matrix[:, :2].T + matrix[:, 2] for points in truth_landmarks(photo)]
                found = [face.landmarks for face in _detect(turned, detector)]
                result = score(photo, str(angle), found, truth)
                row.append(f"{sum(result.passed)}{'+' * result.false_faces}")
            print(f"  {detector:5s} {photo:17s} {' '.join(f'{cell:>3s}' for cell in row)}")


def _detect(image: Image.Image, detector: str):
    from interp_cli.align import detect_faces

    return detect_faces(image, detector=detector)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(ROOT / "tests/data/faces/obama.jpg"))
    parser.add_argument("--long-side", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1024, help="aligned output size")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--matrix", action="store_true", help="also score the 55-face robustness matrix")
    parser.add_argument("--sweep", action="store_true", help="also turn each photo by -60..60 degrees")
    args = parser.parse_args()
    if not alignment_available():
        print("alignment extra not installed: pip install 'interp-cli[align]'")
        return 1

    image = ImageOps.exif_transpose(Image.open(args.image)).convert("RGB")
    scale = args.long_side / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    _, load_seconds, _ = _timed(load_shape_predictor)
    detectors = face_detectors()
    print(f"image {Path(args.image).name} resized to {image.width}x{image.height}, output {args.size}px")
    print(f"landmark model load (once per process): {load_seconds * 1000:.0f} ms; detectors: {', '.join(detectors)}")
    for detector in detectors:
        time_photo(image, detector, args.size, args.runs)
    if args.matrix:
        run_matrix(detectors)
    if args.sweep:
        run_sweep(detectors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
