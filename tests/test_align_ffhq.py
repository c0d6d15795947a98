"""The FFHQ crop: quad geometry, the pixel mapping, rendering, and align_face end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import interp_cli.align as align
from interp_cli.align.ffhq import (aligned_to_source, ffhq_quad, quad_side, render_aligned, source_to_aligned,
                                   source_to_aligned_matrix)
from interp_cli.errors import UsageError

FACES_DIR = Path(__file__).parent / "data" / "faces"

needs_align = pytest.mark.skipif(
    not align.alignment_available(),
    reason="the align extra (opencv-python-headless, face_recognition_models) is not installed",
)


def load(photo: str) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(FACES_DIR / photo)).convert("RGB")


def synthetic_landmarks(eye_left, eye_right, mouth_left, mouth_right) -> np.ndarray:
    """68 points whose eyes (6 points each) and mouth corners sit exactly at the given places."""
    points = np.zeros((68, 2))
    ring = np.array([[-3, 0], [-1, -1], [1, -1], [3, 0], [1, 1], [-1, 1]], dtype=np.float64)
    points[36:42] = np.asarray(eye_left, dtype=np.float64) + ring
    points[42:48] = np.asarray(eye_right, dtype=np.float64) + ring
    points[48], points[54] = mouth_left, mouth_right
    return points


def eye_centres(points: np.ndarray) -> np.ndarray:
    return np.stack([points[36:42].mean(axis=0), points[42:48].mean(axis=0)])


def rotate(points: np.ndarray, degrees: float, centre) -> np.ndarray:
    angle = math.radians(degrees)
    matrix = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return (np.asarray(points) - centre) @ matrix.T + centre


# --- geometry -----------------------------------------------------------------------------


def test_quad_of_an_upright_face():
    # Eyes 100 px apart at y=200, mouth 110 px below: the eye distance sets the size (2*100 > 1.8*110).
    points = synthetic_landmarks([300, 200], [400, 200], [320, 310], [380, 310])
    quad = ffhq_quad(points)
    centre = np.array([350, 200 + 0.1 * 110])
    expected = centre + np.array([[-200, -200], [-200, 200], [200, 200], [200, -200]])
    assert np.allclose(quad, expected)
    assert quad_side(quad) == pytest.approx(400)


def test_quad_size_follows_a_long_face():
    # Eye-to-mouth 150 px: 1.8 * 150 = 270 > 2 * 100, so the half-side is 270.
    quad = ffhq_quad(synthetic_landmarks([300, 200], [400, 200], [320, 350], [380, 350]))
    assert quad_side(quad) == pytest.approx(540)


def test_quad_turns_with_the_face():
    points = synthetic_landmarks([300, 200], [400, 200], [320, 310], [380, 310])
    pivot = np.array([350.0, 250.0])
    turned = ffhq_quad(rotate(points, 25, pivot))
    assert np.allclose(turned, rotate(ffhq_quad(points), 25, pivot), atol=1e-9)


def test_pixel_mapping_round_trip_and_corner_convention():
    quad = ffhq_quad(rotate(synthetic_landmarks([300, 200], [400, 200], [320, 310], [380, 310]), 17, [0, 0]))
    size = 256
    # The aligned image's outer corners (pixel edges at -0.5 and size - 0.5) are the quad's corners.
    corners = np.array([[-0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5], [size - 0.5, -0.5]])
    assert np.allclose(aligned_to_source(corners, quad, size), quad)
    points = np.random.default_rng(0).uniform(-20, 280, (50, 2))
    assert np.allclose(source_to_aligned(aligned_to_source(points, quad, size), quad, size), points)


# --- rendering ----------------------------------------------------------------------------


def marker_image(width: int, height: int, spot, radius: float) -> np.ndarray:
    """A mid-grey RGB image with a bright disc (the marker) centred on `spot`."""
    y, x = np.mgrid[:height, :width]
    image = np.full((height, width, 3), 60, np.uint8)
    image[(x - spot[0]) ** 2 + (y - spot[1]) ** 2 <= radius**2] = 250
    return image


def bright_centroid(image: np.ndarray) -> np.ndarray:
    weight = np.clip(image[..., 1].astype(np.float64) - 155, 0, None)
    y, x = np.mgrid[: image.shape[0], : image.shape[1]]
    return np.array([(x * weight).sum(), (y * weight).sum()]) / weight.sum()


@needs_align
@pytest.mark.parametrize(
    "case",
    [
        # (image size, quad centre, quad half-side, rotation, output size): the crop path taken
        ((800, 600), (400, 300), 150, 0, 128),  # inside the image, no padding, supersampled 3x
        ((800, 600), (380, 310), 180, 33, 256),  # rotated, 2x supersampling
        ((400, 300), (60, 50), 120, -20, 128),  # reaches outside the image: reflect-pad + blend
        ((1600, 1200), (800, 600), 520, 10, 128),  # face >= 4x the output: integer shrink first
        ((300, 300), (150, 150), 40, 5, 256),  # smaller than the output: bicubic upsampling
    ],
)
def test_rendered_marker_lands_where_the_mapping_says(case):
    (width, height), centre, half, degrees, size = case
    square = np.array([[-half, -half], [-half, half], [half, half], [half, -half]], dtype=np.float64)
    quad = rotate(square + centre, degrees, np.array(centre, dtype=np.float64))
    spot = np.array(centre) + rotate(np.array([0.3 * half, -0.2 * half]), degrees, [0, 0])
    radius = max(3.0, 0.06 * half)
    rendered = render_aligned(marker_image(width, height, spot, radius), quad, size)
    assert rendered.shape == (size, size, 3) and rendered.dtype == np.uint8
    expected = source_to_aligned(spot, quad, size)
    found = bright_centroid(rendered)
    assert np.hypot(*(found - expected)) < 0.01 * size + 0.5, f"marker at {found}, expected {expected}"


@needs_align
def test_padding_fades_to_a_blur_not_a_mirror():
    # A sharp vertical stripe pattern; the quad hangs far off the image's left edge.
    stripes = np.zeros((400, 400, 3), np.uint8)
    stripes[:, ::8] = 255
    quad = np.array([[-300, 0], [-300, 400], [100, 400], [100, 0]], dtype=np.float64)
    rendered = render_aligned(stripes, quad, 200).astype(np.float64)
    # Far inside the padding (left quarter) the mirrored stripes must be blurred/filled away,
    # while the real stripes (right quarter, the photo itself) keep their contrast.
    assert rendered[:, :40].std() < 0.25 * rendered[:, -40:].std()


# --- align_face ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def obama():
    return align.align_face(load("obama.jpg"), output_size=256, name="obama.jpg")


@needs_align
def test_aligned_crop_size_and_fields(obama):
    assert obama.image.size == (256, 256) and obama.image.mode == "RGB"
    assert obama.quad.shape == (4, 2) and obama.quad.dtype == np.float64
    assert obama.face_index == 0 and obama.n_faces == 1
    assert obama.landmarks.shape == (68, 2)
    assert obama.warnings == []


@needs_align
def test_eyes_land_where_ffhq_puts_them(obama):
    size = 256
    # Measured on the output image itself, by detecting the face again.
    faces = align.detect_faces(obama.image)
    assert len(faces) == 1
    left, right = eye_centres(faces[0].landmarks) / size
    assert abs(left[1] - right[1]) < 0.015  # level
    assert abs((left[0] + right[0]) / 2 - 0.5) < 0.02  # centred
    # FFHQ: the eye distance is a quarter of the crop, the eyes ~47% of the way down
    # (the crop's centre lies a tenth of the eye-to-mouth distance below the eyes).
    assert 0.22 < right[0] - left[0] < 0.27
    assert 0.44 < (left[1] + right[1]) / 2 < 0.49


@needs_align
def test_quad_maps_aligned_eyes_back_onto_the_source_eyes(obama):
    faces = align.detect_faces(obama.image)
    back = obama.to_source(eye_centres(faces[0].landmarks))
    source = eye_centres(obama.landmarks)
    inter_ocular = np.hypot(*(source[1] - source[0]))
    assert np.hypot(*(back - source).T).max() < 0.03 * inter_ocular
    # and the other way round, for the landmarks the crop was made from
    forward = obama.to_aligned(source)
    assert np.allclose(obama.to_source(forward), source)


@needs_align
def test_face_selection_in_a_two_person_photo():
    image = load("two_people.jpg")
    first = align.align_face(image, output_size=64, face=0, name="two_people.jpg")
    second = align.align_face(image, output_size=64, face=1, name="two_people.jpg")
    largest = align.align_face(image, output_size=64, name="two_people.jpg")
    assert (first.face_index, second.face_index) == (0, 1) and first.n_faces == second.n_faces == 2
    assert first.landmarks[:, 0].mean() < second.landmarks[:, 0].mean()
    # face=None takes the face with the larger FFHQ crop.
    sides = [quad_side(first.quad), quad_side(second.quad)]
    assert abs(sides[0] - sides[1]) > 5  # the two crops clearly differ, so the choice is tested
    chosen = first if sides[0] > sides[1] else second
    assert largest.face_index == chosen.face_index and np.array_equal(largest.landmarks, chosen.landmarks)
    with pytest.raises(UsageError) as caught:
        align.align_face(image, face=2, name="two_people.jpg")
    # `--face 2` for "the second face" was told only "but only 2 faces found": the numbering is said.
    assert str(caught.value) == ("two_people.jpg: face=2 but only 2 faces found (numbered from 0, left to right: "
                                 "face=0 to face=1)")
    assert caught.value.path == "two_people.jpg"
    with pytest.raises(UsageError):
        align.align_face(image, face=-1, name="two_people.jpg")


@needs_align
def test_small_face_gets_a_warning_not_an_error():
    photo = load("obama.jpg")
    small = photo.resize((photo.width // 5, photo.height // 5), Image.Resampling.LANCZOS)  # ~22 px between the eyes
    result = align.align_face(small, output_size=128, name="small.jpg")
    assert result.image.size == (128, 128)
    assert len(result.warnings) == 1 and "small" in result.warnings[0] and "\n" not in result.warnings[0]


@needs_align
def test_tilted_face_is_aligned_upright_without_a_warning():
    tilted = load("obama.jpg").rotate(40, resample=Image.Resampling.BICUBIC, expand=True)  # counter-clockwise
    result = align.align_face(tilted, output_size=64, name="tilted.jpg")
    top_edge = result.quad[3] - result.quad[0]
    assert math.degrees(math.atan2(top_edge[1], top_edge[0])) == pytest.approx(-40, abs=3)
    assert result.warnings == []


def test_tilt_and_turn_warnings_from_landmarks():
    from interp_cli.align import _face_warnings
    from interp_cli.align.detect import Face

    points = synthetic_landmarks([300, 200], [400, 200], [320, 310], [380, 310])
    points[0], points[16], points[30] = [250, 250], [450, 250], [350, 260]  # jaw ends and nose tip
    quad = ffhq_quad(points)
    assert _face_warnings(Face((0, 0, 1, 1), points), quad, 0, 1, "a.png", 1024) == []

    leaning = rotate(points, 40, [350, 250])
    assert _face_warnings(Face((0, 0, 1, 1), leaning), ffhq_quad(leaning), 0, 1, "a.png", 1024) == []
    tilted = rotate(points, 60, [350, 250])
    notes = _face_warnings(Face((0, 0, 1, 1), tilted), ffhq_quad(tilted), 0, 1, "a.png", 1024)
    assert len(notes) == 1 and "tilted by 60 degrees" in notes[0]

    turned = points.copy()
    turned[30] = [435, 260]  # nose tip almost at one end of the jaw: a head turned to the side
    notes = _face_warnings(Face((0, 0, 1, 1), turned), ffhq_quad(turned), 1, 2, "a.png", 1024)
    assert len(notes) == 1 and notes[0].startswith("a.png: face 1:") and "turned" in notes[0]


@needs_align
def test_bad_output_size_is_a_usage_error():
    with pytest.raises(UsageError):
        align.align_face(load("obama.jpg"), output_size=0, name="obama.jpg")


@needs_align
def test_a_python_callers_first_crop_in_a_fresh_process_is_rendered():
    """`render_aligned` called before anything else of interp imported OpenCV: the crop is rendered. The suite's
    own process imported cv2 long ago, so only a fresh one takes `opencv()`'s first-import path, whose module
    is the one render_aligned then uses (a None there: an AttributeError for a Python caller)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from interp_cli.align.ffhq import render_aligned; "
            "assert 'cv2' not in sys.modules; "
            "quad = np.array([[20, 20], [20, 80], [80, 80], [80, 20]], dtype=np.float64); "
            "image = np.zeros((100, 100, 3), np.uint8); image[40:60, 40:60] = 255; "
            "out = render_aligned(image, quad, 30); print(out.shape, int(out[15, 15, 0]), int(out[2, 2, 0]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parent.parent)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["(30,", "30,", "3)", "255", "0"]


def test_the_paste_back_matrix_maps_source_pixels_as_source_to_aligned_does():
    """`source_to_aligned_matrix` is what --paste warps the morphed face back into the photo with: for a turned,
    off-centre crop it must send every photo pixel where `source_to_aligned` does, or the face lands shifted or
    turned the wrong way in the pasted photo."""
    square = np.array([[-70, -70], [-70, 70], [70, 70], [70, -70]], dtype=np.float64)
    quad = rotate(square + [230, 160], 25, np.array([230.0, 160.0]))
    points = np.array([[0.0, 0.0], [230, 160], [301.5, 97.25], [150, 260]])
    matrix = source_to_aligned_matrix(quad, 256)
    mapped = points @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, source_to_aligned(points, quad, 256), atol=1e-9)
    np.testing.assert_allclose(source_to_aligned(aligned_to_source(points, quad, 256), quad, 256), points, atol=1e-9)


@needs_align
@pytest.mark.parametrize("output_size", [32, 8])  # 8: a quad 7x the output, shrunk first
def test_a_crop_entirely_outside_the_photo_is_filled_from_the_nearest_edge(output_size):
    """A quad wholly past the photo's right (or bottom) edge, as a Python caller's landmarks can put it: the crop
    is the colour of the photo's last column (row), not of the one before it, and not an OpenCV error when the
    one-pixel strip is shrunk first."""
    photo = np.zeros((100, 120, 3), np.uint8)
    photo[..., 2] = 200
    edge = [220, 30, 30]
    for axis in (1, 0):
        image = photo.copy()
        quad = np.array([[300, 20], [300, 80], [360, 80], [360, 20]], dtype=np.float64)
        if axis == 1:
            image[:, -1] = edge
        else:
            image[-1, :] = edge
            quad = quad[:, ::-1][[0, 3, 2, 1]]  # the same square below the photo, corners in the same order
        rendered = render_aligned(image, quad, output_size)
        assert rendered.shape == (output_size, output_size, 3)
        assert (rendered.reshape(-1, 3) == edge).all(), axis


@needs_align
def test_a_face_five_times_the_output_is_averaged_not_aliased():
    """A face 5x the output (the recipe's shrink by 2, then a 3x render): a one-pixel checkerboard, the finest
    detail a photo has (hair, a patterned shirt), averages to an even grey, with no moire."""
    n = 64
    side = 5 * n
    yy, xx = np.mgrid[: side + 200, : side + 200]
    board = np.where(((xx + yy) % 2 == 0)[..., None], 255, 0).astype(np.uint8).repeat(3, axis=2)
    quad = np.array([[100, 100], [100, 100 + side], [100 + side, 100 + side], [100 + side, 100]], float) - 0.5
    rendered = render_aligned(board, quad, n).astype(np.float64)
    assert abs(rendered.mean() - 127.5) < 1 and rendered.std() < 1


@needs_align
def test_a_face_smaller_than_the_output_is_upsampled_bicubically():
    """A face smaller than the model's input is enlarged bicubically, as the FFHQ recipe does (bilinear is
    visibly softer): an upright crop of noise matches OpenCV's bicubic resize of the same pixels."""
    cv2 = pytest.importorskip("cv2")
    photo = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    x0, y0, w = 70, 60, 48
    quad = np.array([[x0, y0], [x0, y0 + w], [x0 + w, y0 + w], [x0 + w, y0]], dtype=np.float64) - 0.5
    rendered = render_aligned(photo, quad, 192).astype(np.float64)
    expected = cv2.resize(photo[y0:y0 + w, x0:x0 + w], (192, 192), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    assert np.abs(rendered - expected)[8:-8, 8:-8].max() <= 2  # the edges: the photo around the crop
