"""The alignment robustness matrix: the repo's photos tilted, shrunk, mirrored, blurred,
recompressed and darkened, with the truth carried along analytically.

Truth is dlib's own 68 landmarks on the untouched photo (tests/data/faces/dlib_landmarks.json:
dlib's HOG detector + shape_predictor_68_face_landmarks.dat), moved with the photo: rotated about
the photo's centre onto the enlarged canvas, scaled, or mirrored (a mirrored face swaps its two
eye groups and its mouth corners, so that "image-left eye" stays image-left). A face passes when
the FFHQ quad chosen for it has its centre within 5% of the true quad's side, its side within
10% and its angle within 5 degrees.

Used by tests/test_align_robust.py and benchmarks/bench_align.py.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from interp_cli.align.ffhq import ffhq_quad, quad_side

FACES_DIR = Path(__file__).parent / "data" / "faces"
REFERENCE = json.loads((FACES_DIR / "dlib_landmarks.json").read_text())
PHOTOS = [photo for photo in REFERENCE if photo != "_about"]

TILTS = (15, -15, 30, -30, 45)  # degrees, counter-clockwise as seen
SCALE = 0.35
BLUR_RADIUS = 3.0  # PIL's GaussianBlur radius (its sigma), in pixels of the full-size photo
JPEG_QUALITY = 15
BRIGHTNESS = 0.35
CONDITIONS = (
    ("original",)
    + tuple(f"tilt{t:+d}" for t in TILTS)
    + ("scale0.35", "mirror", "blur", f"jpeg{JPEG_QUALITY}", f"bright{int(BRIGHTNESS * 100)}")
)

CENTRE_TOLERANCE = 0.05  # of the true quad's side
SIZE_TOLERANCE = 0.10
ANGLE_TOLERANCE = 5.0  # degrees

# Mirroring: swap the two eyes' six points (36-41 <-> 42-47; each eye's ring is also reversed
# left-right, which does not move its mean) and the two mouth corners.
_MIRROR = np.arange(68)
_MIRROR[36:42], _MIRROR[42:48] = np.arange(42, 48), np.arange(36, 42)
_MIRROR[48], _MIRROR[54] = 54, 48


def load(photo: str) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(FACES_DIR / photo)).convert("RGB")


def truth_landmarks(photo: str) -> list[np.ndarray]:
    """dlib's [68, 2] landmarks of each face of the untouched photo, left to right."""
    return [np.asarray(face["landmarks"], dtype=np.float64) for face in REFERENCE[photo]["faces"]]


def rotate_image(image: Image.Image, degrees: float) -> tuple[Image.Image, np.ndarray]:
    """`image` turned counter-clockwise by `degrees` onto a canvas that holds all of it (black
    corners), and the [2, 3] affine matrix taking source pixel centres to the new image's."""
    import cv2

    width, height = image.size
    angle = math.radians(degrees)
    cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
    new_width, new_height = math.ceil(width * cos + height * sin), math.ceil(width * sin + height * cos)
    # Counter-clockwise on screen (y down): x' = cos x + sin y, y' = -sin x + cos y about the centres.
    rotation = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    new_centre = np.array([(new_width - 1) / 2, (new_height - 1) / 2])
    matrix = np.hstack([rotation, (new_centre - rotation @ centre)[:, None]])
    rotated = cv2.warpAffine(
        np.asarray(image), matrix, (new_width, new_height), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)
    )
    return Image.fromarray(rotated, "RGB"), matrix


def make_case(photo: str, condition: str) -> tuple[Image.Image, list[np.ndarray]]:
    """The photo under `condition` and the true landmarks of each of its faces in it."""
    image = load(photo)
    truth = truth_landmarks(photo)
    if condition == "original":
        return image, truth
    if condition.startswith("tilt"):
        rotated, matrix = rotate_image(image, float(condition[4:]))
        return rotated, [points @ matrix[:, :2].T + matrix[:, 2] for points in truth]
    if condition == "scale0.35":
        size = (round(image.width * SCALE), round(image.height * SCALE))
        factor = np.array([size[0] / image.width, size[1] / image.height])
        # Pixel centres scale about the pixel edges.
        return image.resize(size, Image.Resampling.LANCZOS), [(points + 0.5) * factor - 0.5 for points in truth]
    if condition == "mirror":
        flipped = ImageOps.mirror(image)
        moved = []
        for points in truth:
            mirrored = points.copy()
            mirrored[:, 0] = image.width - 1 - mirrored[:, 0]
            moved.append(mirrored[_MIRROR])
        return flipped, moved[::-1]
    if condition == "blur":
        return image.filter(ImageFilter.GaussianBlur(BLUR_RADIUS)), truth
    if condition.startswith("jpeg"):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
        buffer.seek(0)
        return Image.open(buffer).convert("RGB"), truth
    if condition.startswith("bright"):
        return ImageEnhance.Brightness(image).enhance(BRIGHTNESS), truth
    raise ValueError(condition)


def all_cases():
    """(photo, condition) for every photo and condition."""
    return [(photo, condition) for photo in PHOTOS for condition in CONDITIONS]


def quad_angle(quad: np.ndarray) -> float:
    """The direction of the quad's top edge, in degrees."""
    edge = np.asarray(quad[3]) - np.asarray(quad[0])
    return math.degrees(math.atan2(edge[1], edge[0]))


@dataclass
class Match:
    """How one found quad compares with the true one."""

    centre_error: float  # fraction of the true side
    size_error: float  # fraction of the true side
    angle_error: float  # degrees

    @property
    def passed(self) -> bool:
        return (
            self.centre_error <= CENTRE_TOLERANCE
            and self.size_error <= SIZE_TOLERANCE
            and self.angle_error <= ANGLE_TOLERANCE
        )

    def __str__(self) -> str:
        return f"centre {self.centre_error:.1%}, size {self.size_error:.1%}, angle {self.angle_error:.1f} deg"


def compare(found_landmarks: np.ndarray, true_landmarks: np.ndarray) -> Match:
    """Compare the FFHQ quads of found and true landmarks ([68, 2] each)."""
    found, truth = ffhq_quad(found_landmarks), ffhq_quad(true_landmarks)
    side = quad_side(truth)
    centre_error = float(np.hypot(*(found.mean(axis=0) - truth.mean(axis=0)))) / side
    size_error = abs(quad_side(found) - side) / side
    angle_error = abs((quad_angle(found) - quad_angle(truth) + 180.0) % 360.0 - 180.0)
    return Match(centre_error, size_error, angle_error)


@dataclass
class CaseResult:
    """One photo under one condition: a Match (or None when missed) per true face, and how many
    found faces belong to no true face."""

    photo: str
    condition: str
    matches: list[Match | None]
    false_faces: int

    @property
    def passed(self) -> list[bool]:
        return [match is not None and match.passed for match in self.matches]


def score(photo: str, condition: str, found: list[np.ndarray], truth: list[np.ndarray]) -> CaseResult:
    """Pair found faces (their [68, 2] landmarks) with true ones by quad centre: a found face
    belongs to the nearest true face whose quad side it is within half of."""
    true_quads = [ffhq_quad(points) for points in truth]
    matches: list[Match | None] = [None] * len(truth)
    false_faces = 0
    for points in found:
        centre = ffhq_quad(points).mean(axis=0)
        distances = [np.hypot(*(centre - quad.mean(axis=0))) / quad_side(quad) for quad in true_quads]
        nearest = int(np.argmin(distances))
        if distances[nearest] > 0.5:
            false_faces += 1
            continue
        match = compare(points, truth[nearest])
        if matches[nearest] is None:
            matches[nearest] = match
        else:  # a second face on the same person is a false face too
            false_faces += 1
            if match.centre_error < matches[nearest].centre_error:
                matches[nearest] = match
    return CaseResult(photo, condition, matches, false_faces)
