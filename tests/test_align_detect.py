"""Face detection (Haar + dlib-style box refit) checked against dlib's own detector + predictor."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import interp_cli.align as align
from interp_cli.align.landmarks import INSTALL_ALIGN
from interp_cli.errors import InterpError, NoFaceError

FACES_DIR = Path(__file__).parent / "data" / "faces"
REFERENCE = json.loads((FACES_DIR / "dlib_landmarks.json").read_text())
PHOTOS = [photo for photo in REFERENCE if photo != "_about"]

needs_align = pytest.mark.skipif(
    not align.alignment_available(),
    reason="the align extra (opencv-python-headless, face_recognition_models) is not installed",
)


def load(photo: str) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(FACES_DIR / photo)).convert("RGB")


def key_points(points) -> np.ndarray:
    """[4, 2]: the two eye centres (mean of each eye's six points) and the two mouth corners."""
    points = np.asarray(points, dtype=np.float64)
    return np.stack([points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[48], points[54]])


@pytest.fixture(scope="module")
def detections():
    return {photo: align.detect_faces(load(photo)) for photo in PHOTOS}


@needs_align
@pytest.mark.parametrize("photo", PHOTOS)
def test_detected_eyes_and_mouth_match_dlib(detections, photo):
    faces = detections[photo]
    expected = REFERENCE[photo]["faces"]
    assert len(faces) == len(expected)
    for face, reference in zip(faces, expected):
        assert face.landmarks.shape == (68, 2) and face.landmarks.dtype == np.float64
        ours, theirs = key_points(face.landmarks), key_points(reference["landmarks"])
        inter_ocular = np.hypot(*(theirs[1] - theirs[0]))
        worst = np.hypot(*(ours - theirs).T).max() / inter_ocular
        assert worst < 0.02, f"{photo}: a key point is {worst:.2%} of the inter-ocular distance off"


@needs_align
def test_two_faces_left_to_right(detections):
    faces = detections["two_people.jpg"]
    assert len(faces) == 2
    centres = [(face.box[0] + face.box[2]) / 2 for face in faces]
    assert centres[0] < centres[1]
    for face, reference in zip(faces, REFERENCE["two_people.jpg"]["faces"]):
        left, top, right, bottom = reference["box"]
        x, y = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
        assert left < x < right and top < y < bottom  # each box sits on the face dlib found there


@needs_align
def test_refit_box_is_dlib_sized(detections):
    # The box comes from the landmarks, so it should have about the size of dlib's own box.
    for photo in PHOTOS:
        for face, reference in zip(detections[photo], REFERENCE[photo]["faces"]):
            ours = face.box[2] - face.box[0]
            theirs = reference["box"][2] - reference["box"][0]
            assert 0.75 < ours / theirs < 1.25, f"{photo}: box {ours:.0f} px vs dlib's {theirs:.0f} px"


@needs_align
@pytest.mark.parametrize("kind", ["noise", "gradient", "flat"])
def test_no_face_raises_the_one_line_error(kind):
    rng = np.random.default_rng(0)
    if kind == "noise":
        pixels = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    elif kind == "gradient":
        pixels = np.broadcast_to(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 640, 3))
    else:
        pixels = np.full((480, 640, 3), 128, np.uint8)
    image = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    assert align.detect_faces(image) == []
    with pytest.raises(NoFaceError) as caught:
        align.align_face(image, name="blank.png")
    # The advice (--no-align, or what --paste and `interp align` need) is the caller's: it depends on the command.
    assert str(caught.value) == "no face found in blank.png"


@needs_align
@pytest.mark.parametrize(
    "photo,crop",
    [("obama.jpg", (0, 450, 910, 1137)), ("biden.jpg", (0, 0, 440, 1200)), ("two_people.jpg", (420, 0, 770, 661))],
)
def test_no_false_faces_in_real_backgrounds(photo, crop):
    # Parts of the test photos without a face: suit, curtains, chandeliers, flags.
    assert align.detect_faces(load(photo).crop(crop)) == []


@needs_align
def test_tiny_image_does_not_crash():
    image = Image.new("RGB", (7, 5), (200, 150, 120))
    assert align.detect_faces(image) == []


@needs_align
def test_non_rgb_modes_are_accepted(detections):
    grey_image = load("obama.jpg").convert("L")
    faces = align.detect_faces(grey_image)
    assert len(faces) == 1
    assert np.hypot(*(faces[0].landmarks - detections["obama.jpg"][0].landmarks).T).mean() < 3.0


def test_missing_extra_raises_install_hint(monkeypatch):
    monkeypatch.setattr(align, "alignment_available", lambda: False)
    image = Image.new("RGB", (64, 64))
    for call in (lambda: align.detect_faces(image), lambda: align.align_face(image, name="a.png")):
        with pytest.raises(InterpError) as caught:
            call()
        message = str(caught.value)
        assert INSTALL_ALIGN in message and "\n" not in message
        # this Python's pip: a bare `pip` may install into another Python (a venv's interp, not activated)
        assert f"{shlex.quote(sys.executable)} -m pip install 'opencv-python-headless>=4.5.5.64,<5' " in message
        # No --no-align here: `interp align` and --paste cannot take it; morph adds it (tests/test_advice.py).
        assert "--no-align" not in message


def test_import_is_cheap_and_does_not_load_opencv():
    code = "import sys, interp_cli.align; print('cv2' in sys.modules, 'PIL.Image' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


needs_dlib = pytest.mark.skipif(not align.alignment_available() or "dlib" not in align.face_detectors(),
                                reason="needs the align extra with dlib-bin")


@needs_dlib
def test_hog_angles_scanned_side_by_side_find_what_scanning_each_alone_finds():
    """The three angles of dlib's HOG search run in threads, each with a detector of its own (a
    copy of the first): the candidates are exactly those of one angle at a time, in the same order,
    also when two threads search two photos at once."""
    from concurrent.futures import ThreadPoolExecutor

    from interp_cli.align import detect

    greys = {photo: detect.dlib_grey(np.asarray(load(photo))) for photo in PHOTOS}
    turned = load(PHOTOS[0]).rotate(40, resample=Image.Resampling.BICUBIC, expand=True)
    rotated = detect.dlib_grey(np.asarray(turned))  # a face that a turned copy finds upright

    def one_at_a_time(grey):
        return [c for angle in detect._HOG_ANGLES for c in detect.hog_candidates(grey, (angle,))]

    for name, grey in [*greys.items(), ("rotated", rotated)]:
        alone = one_at_a_time(grey)
        assert alone, name
        assert detect.hog_candidates(grey) == alone, name
    assert len(detect._HOG) == len(detect._HOG_ANGLES)
    with ThreadPoolExecutor(2) as pool:  # two callers at once: the detectors are taken in turn
        both = list(pool.map(detect.hog_candidates, [greys[p] for p in PHOTOS[:2]]))
    assert both == [one_at_a_time(greys[p]) for p in PHOTOS[:2]]


@needs_dlib
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the angles are scanned in threads only with 2+ cores")
def test_a_stop_as_a_scanning_thread_starts_leaves_no_thread_scanning(monkeypatch):
    """A caller's SIGTERM handler raised inside `Thread.start()` of the HOG search's last worker: the pool had not
    counted that worker yet, so its shutdown never waited for it, and the worker scanned on after the stop had
    left `hog_candidates` (with a detector the caller's next search takes). Now every worker the search started is
    waited for before the stop leaves it (a real SIGTERM; the pool's `join`s are counted)."""
    import threading

    from interp_cli.align import detect
    from tests.races import Stopped, stop_inside_start

    grey = detect.dlib_grey(np.asarray(load(PHOTOS[0])))
    detect.hog_candidates(grey)  # the detectors made and copied before the stop
    started, joined = [], set()
    start, join = threading.Thread.start, threading.Thread.join

    def counted_start(thread):
        if thread.name.startswith("interp-hog"):
            started.append(thread)
        start(thread)

    def counted_join(thread, timeout=None):
        joined.add(thread)
        join(thread, timeout)

    monkeypatch.setattr(threading.Thread, "start", counted_start)
    monkeypatch.setattr(threading.Thread, "join", counted_join)
    last = f"interp-hog_{len(detect._HOG_ANGLES) - 1}"
    with stop_inside_start(last), pytest.raises(Stopped):
        detect.hog_candidates(grey)
    assert [t.name for t in started][-1] == last
    assert [t.name for t in started if t not in joined] == []
    assert detect.hog_candidates(grey) == detect.hog_candidates(grey)  # and the next search runs as ever

@needs_dlib
def test_the_hog_detector_is_read_back_from_the_cache_and_a_damaged_entry_is_replaced(tmp_path, monkeypatch):
    """dlib builds its detector in 0.3 s; a run after the first reads dlib's serialization of it from the
    align cache instead, and that detector finds the same candidates. A damaged entry is not used."""
    import dlib

    from interp_cli.align import detect

    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path))
    builds = []
    build = dlib.get_frontal_face_detector
    monkeypatch.setattr(dlib, "get_frontal_face_detector", lambda: builds.append(1) or build())
    grey = detect.dlib_grey(np.asarray(load(PHOTOS[0])))
    turned = detect.dlib_grey(np.asarray(load(PHOTOS[0]).rotate(40, resample=Image.Resampling.BICUBIC, expand=True)))

    def fresh_process_candidates():
        monkeypatch.setattr(detect, "_HOG", [])  # as a new process starts: no detector yet
        return [detect.hog_candidates(grey), detect.hog_candidates(turned)]

    built = fresh_process_candidates()
    entry, = (tmp_path / "align").glob("frontal_face_detector-*.svm")
    assert len(builds) == 1 and built[0] and built[1]
    assert fresh_process_candidates() == built and len(builds) == 1  # read back, not built
    good = entry.read_bytes()
    for damage in (good[: len(good) // 2], good[:-8] + b"\x01" * 8, b""):
        entry.write_bytes(damage)
        assert fresh_process_candidates() == built
        assert entry.read_bytes() == good  # built again and written over the damaged entry
    assert len(builds) == 4

    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "align").write_bytes(b"")  # a cache folder that cannot be made (root could write a read-only one)
    monkeypatch.setenv("INTERP_CACHE_DIR", str(blocked))
    assert fresh_process_candidates() == built and len(builds) == 5  # built, and no error
