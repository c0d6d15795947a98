"""Small faces in big photos (group and full-body shots): found by the finer second search.

The photos are built here from the test photos' real faces, pasted small (some tilted) on a large noisy canvas
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
from interp_cli.align.ffhq import ffhq_quad, quad_side
from interp_cli.cli import cli
from interp_cli.errors import NoFaceError, UsageError
from tests.align_cases import compare, rotate_image
from tests.cli_runner import cli_runner

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


def paste(canvas: Image.Image, photo: str, size: int, at: tuple[int, int], tilt: float = 0.0) -> np.ndarray:
    """Paste `photo`'s face with its surroundings (twice its dlib box) so that the box is `size` px
    wide and its top-left corner at `at`, the photo first turned counter-clockwise by `tilt` degrees
    about the face; return its reference landmarks [68, 2] moved with it."""
    face = REFERENCE[photo]["faces"][0]
    left, top, right, bottom = face["box"]
    half = right - left
    image = ImageOps.exif_transpose(Image.open(FACES_DIR / photo)).convert("RGB")
    truth = np.asarray(face["landmarks"], dtype=np.float64)
    centre = np.array([(left + right) // 2, (top + bottom) // 2], dtype=np.float64)
    if tilt:
        image, matrix = rotate_image(image, tilt)
        truth, centre = truth @ matrix[:, :2].T + matrix[:, 2], matrix[:, :2] @ centre + matrix[:, 2]
    x0, y0 = round(centre[0]) - half, round(centre[1]) - half
    patch = image.crop((x0, y0, x0 + 2 * half, y0 + 2 * half)).resize((2 * size, 2 * size), Image.Resampling.LANCZOS)
    origin = (at[0] - size // 2, at[1] - size // 2)
    canvas.paste(patch, origin)
    scale = size / half
    # Pixel centres scale about pixel edges.
    return (truth - [x0, y0] + 0.5) * scale - 0.5 + origin


def group_photo(faces: list[tuple], size: tuple[int, int] = (WIDTH, HEIGHT)) -> tuple[Image.Image, list[np.ndarray]]:
    """A big JPEG photo (`size`: width, height) with each (photo, box size, box corner[, tilt]) face
    pasted, read back; and the truths."""
    rng = np.random.default_rng(0)
    canvas = Image.fromarray(rng.normal(128, 12, (size[1], size[0], 3)).clip(0, 255).astype(np.uint8), "RGB")
    truths = [paste(canvas, *face) for face in faces]
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
    numbered = r"\(numbered from 0, left to right: face=0 to face=2\)"
    with pytest.raises(UsageError, match=rf"^group\.jpg: face=3 but only 3 faces found {numbered}$"):
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


# --- small faces tilted, as heads in a group photo are: the second search's turned copies -----------------

@pytest.fixture(scope="module")
def tilted_group():
    # Heads tilted either way by 20-40 degrees and one upright, all small, their boxes 125-150 px.
    return group_photo([("biden.jpg", 140, (500, 1300), 30), ("obama.jpg", 140, (1300, 800), -30),
                        ("obama_speech.jpg", 140, (2100, 1500), 20), ("obama.jpg", SMALL, (2900, 1000)),
                        ("biden.jpg", 150, (3500, 1700), -40)])


def _each_found_once_and_aligned(image, truths):
    """Every pasted face found, each once (a turned copy's candidate on a face found upright is not a second
    face), and aligned as its own landmarks say."""
    faces = align.detect_faces(image)
    assert len(faces) == len(truths)
    for number, (face, truth) in enumerate(zip(faces, truths)):
        match = compare(face.landmarks, truth)
        assert match.passed, f"face {number}: {match}"


def test_small_tilted_faces_in_a_big_photo_are_found_and_aligned(tilted_group):
    _each_found_once_and_aligned(*tilted_group)


def test_interp_align_picks_a_small_tilted_face_by_its_number(tilted_group, tmp_path):
    image, truths = tilted_group
    photo, out = tmp_path / "group.jpg", tmp_path / "face1.png"
    image.save(photo, quality=95)
    result = cli_runner().invoke(cli, ["align", str(photo), "--face", "1", "--size", "64", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["face"], summary["faces"]) == (1, len(truths))
    quad, truth = np.asarray(summary["quad"]), ffhq_quad(truths[1])
    assert np.hypot(*(quad - truth).T).max() < 0.05 * quad_side(truth)
    assert Image.open(out).size == (64, 64)


def textured_wall(size: tuple[int, int]) -> Image.Image:
    """The face-free parts of the test photos (suits, hands, flags, curtains, a chandelier, a painting),
    tiled over a photo of `size` (width, height), a third of the tiles turned either way, as the turned
    copies see faces."""
    def load(photo):
        return ImageOps.exif_transpose(Image.open(FACES_DIR / photo)).convert("RGB")

    obama, speech, two, biden = (load(p) for p in ("obama.jpg", "obama_speech.jpg", "two_people.jpg", "biden.jpg"))
    regions = [obama.crop((0, 480, 910, 1137)), obama.crop((0, 0, 290, 1137)), obama.crop((680, 0, 910, 1137)),
               speech.crop((0, 0, 626, 180)), speech.crop((0, 650, 626, 1200)), two.crop((0, 0, 230, 330)),
               two.crop((970, 0, 1126, 661)), biden.crop((0, 0, 320, 700)), biden.crop((950, 0, 1200, 650))]
    tile = 400
    canvas = Image.new("RGB", size)
    for index, (y, x) in enumerate((y, x) for y in range(0, size[1], tile) for x in range(0, size[0], tile)):
        patch = ImageOps.fit(regions[index % len(regions)], (tile, tile), Image.Resampling.LANCZOS)
        canvas.paste(patch.rotate((0, 30, -30)[index % 3], Image.Resampling.BILINEAR), (x, y))
    return canvas


def test_a_big_photo_of_real_texture_has_no_face():
    with pytest.raises(NoFaceError) as caught:
        align.align_face(textured_wall((WIDTH, HEIGHT)), output_size=64, face=0, name="wall.jpg")
    assert str(caught.value) == "no face found in wall.jpg"


def test_a_panorama_over_10240_px_still_finds_faces_of_100_px():
    # 12000 px wide: the second search's copy would be capped at 2048 px, where a 100 px face is
    # under the cascade's 20 px window.
    image, truths = group_photo([("biden.jpg", 100, (3000, 500)), ("obama.jpg", 100, (9000, 500))], (12000, 1000))
    faces = align.detect_faces(image)
    assert len(faces) == 2
    for face, truth in zip(faces, truths):
        assert eyes_off(face.landmarks, truth) < 0.05


# --- small tilted faces in mid-size photos (1000-2560 px: web-sized phone photos, video stills) -------------
# HOG's copy (1000 px) makes a 100 px face too small for its window there, and the first search's cascade
# looks at the upright copy only: the second search turns a finer copy of the photo by +-30 and +-45 degrees.

MID = (1920, 1080)  # a 1080p video still


@pytest.fixture(scope="module")
def mid_group():
    # Heads of 100 px (40 px between the eyes, where the small-face warning starts), tilted 30 and 45 degrees
    # either way, and one upright.
    return group_photo([("biden.jpg", 100, (200, 300), 30), ("obama.jpg", 100, (550, 750), -45),
                        ("obama_speech.jpg", 100, (900, 350), -30), ("obama.jpg", 100, (1250, 750)),
                        ("biden.jpg", 100, (1650, 400), 45)], MID)


def test_small_tilted_faces_in_a_mid_size_photo_are_found_and_aligned(mid_group):
    _each_found_once_and_aligned(*mid_group)


def test_interp_align_counts_and_picks_the_small_tilted_faces_of_a_mid_size_photo(mid_group, tmp_path):
    image, truths = mid_group
    photo = tmp_path / "still.jpg"
    image.save(photo, quality=95)
    for number in (1, 4):  # tilted 45 degrees, one each way
        out = tmp_path / f"face{number}.png"
        result = cli_runner().invoke(cli, ["align", str(photo), "--face", str(number), "--size", "64", "-o", str(out),
                                           "--json"])
        assert result.exit_code == 0, result.stderr
        summary = json.loads(result.stdout)
        assert (summary["face"], summary["faces"]) == (number, len(truths))
        quad, truth = np.asarray(summary["quad"]), ffhq_quad(truths[number])
        assert np.hypot(*(quad - truth).T).max() < 0.05 * quad_side(truth)
        assert Image.open(out).size == (64, 64)


def test_a_mid_size_photo_of_real_texture_has_no_face(tmp_path):
    photo = tmp_path / "wall.jpg"
    textured_wall((1600, 1067)).save(photo, quality=95)
    result = cli_runner().invoke(cli, ["align", str(photo), "--face", "0", "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 1
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1 and f"no face found in {photo}" in error, error
    assert not (tmp_path / "out.png").exists()


def test_small_faces_tilted_45_degrees_in_a_big_photo_are_found_and_aligned():
    # Over 2560 px the fine search's +-30 degree copies see a face tilted 45 degrees at the cascade's edge
    # (15 degrees off): its +-45 degree copies find it. A strip keeps the photo quick to search.
    image, truths = group_photo([("biden.jpg", 100, (500, 350), 45), ("obama.jpg", 100, (1400, 350), -45),
                                 ("obama_speech.jpg", 100, (2300, 350), 45)], (2800, 700))
    faces = align.detect_faces(image)
    assert len(faces) == len(truths)
    for number, (face, truth) in enumerate(zip(faces, truths)):
        match = compare(face.landmarks, truth)
        assert match.passed, f"face {number}: {match}"
