"""The identity measure: dlib's face-descriptor distance between an aligned crop and its reconstruction.

Checked on the test photos (news photos of Obama and Biden; two_people.jpg has Obama on the left
and Biden on the right): a photo against its own re-crop and the same person in another photo are
under dlib's 0.6, two different people over it; a render with no face is named as such; small
renders and a Python without dlib get None, and dlib is never imported when it is not needed.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from interp_cli import identity
from interp_cli.align import align_face
from interp_cli.images import load_image

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "data" / "faces"

needs_dlib = pytest.mark.skipif(not identity.available(), reason="needs the align extra with dlib-bin")


def aligned(image: Image.Image, face: int | None = None) -> np.ndarray:
    # 1024 px, what the FFHQ model's report sees (shrunk to identity.WORK_SIZE inside the measure).
    return np.asarray(align_face(image, output_size=1024, face=face).image)


@pytest.fixture(scope="module")
def crops() -> dict[str, np.ndarray]:
    if not identity.available():
        pytest.skip("needs the align extra with dlib-bin")
    two = load_image(FACES / "two_people.jpg")
    return {"obama": aligned(load_image(FACES / "obama.jpg")),
            "obama_speech": aligned(load_image(FACES / "obama_speech.jpg")),
            "obama_in_two": aligned(two, face=0),
            "biden": aligned(load_image(ROOT / "examples" / "biden.jpg")),
            "biden_in_two": aligned(two, face=1)}


@needs_dlib
def test_a_photo_against_its_own_recrop_is_the_same_person(crops):
    photo = load_image(ROOT / "examples" / "obama.jpg")
    width, height = photo.size
    jpeg = io.BytesIO()
    photo.save(jpeg, "JPEG", quality=30)
    recrops = {
        "shifted": photo.crop((round(0.03 * width), round(0.03 * height), width, height)),
        "rescaled": photo.resize((round(0.6 * width), round(0.6 * height)), Image.Resampling.LANCZOS),
        "recompressed": Image.open(io.BytesIO(jpeg.getvalue())).convert("RGB"),
    }
    for change, changed in recrops.items():
        entry = identity.measure(crops["obama"], aligned(changed))
        assert entry["identity_note"] is None, change
        # Measured 0.01-0.06: a faithful reconstruction sits far below the threshold.
        assert 0 <= entry["identity"] < 0.2, (change, entry)
        assert not identity.unlike(entry)


@needs_dlib
def test_a_soft_reconstruction_is_still_the_person(crops):
    # e4e's reconstructions are soft: blur alone must not read as another person (measured 0.23-0.26 at radius 8).
    for name in ("obama", "biden"):
        blurred = np.asarray(Image.fromarray(crops[name]).filter(ImageFilter.GaussianBlur(8)))
        entry = identity.measure(crops[name], blurred)
        assert entry["identity"] < identity.SAME_PERSON / 2, (name, entry)


@needs_dlib
def test_the_same_person_in_another_photo_is_under_the_threshold(crops):
    for a, b in [("obama", "obama_speech"), ("obama", "obama_in_two"), ("obama_speech", "obama_in_two"),
                 ("biden", "biden_in_two")]:
        entry = identity.measure(crops[a], crops[b])
        assert entry["identity"] < identity.SAME_PERSON, (a, b, entry)


@needs_dlib
def test_different_people_are_over_the_threshold(crops):
    for a in ("obama", "obama_speech", "obama_in_two"):
        for b in ("biden", "biden_in_two"):
            entry = identity.measure(crops[a], crops[b])
            assert entry["identity"] > identity.SAME_PERSON, (a, b, entry)
            assert identity.unlike(entry)
            assert "not this person" in identity.reason(entry) and f"{entry['identity']:.2f}" in identity.reason(entry)


@needs_dlib
def test_an_aligned_crop_needs_only_upright_hog_and_a_turned_one_is_still_found(crops, monkeypatch):
    """The measure looks for the crop's face with upright HOG first: the same faces the full search
    fits, without its turned copies or cascade (half a descriptor's time); a face upright HOG misses
    (the crop turned 40 degrees) is still found by the full search."""
    from interp_cli.align import detect
    from interp_cli.align.landmarks import load_shape_predictor

    predictor = load_shape_predictor()
    for name in ("obama", "biden_in_two"):
        grey = detect.dlib_grey(identity._working_copy(crops[name]))
        full = detect.find_faces(predictor, grey, "dlib")
        quick = detect.find_faces(predictor, grey, "dlib", upright_first=True)
        biggest = [max(faces, key=lambda f: f.inter_ocular) for faces in (full, quick)]
        assert np.allclose(biggest[0].landmarks, biggest[1].landmarks), name
    whole = identity.measure(crops["obama"], crops["obama_speech"])

    def no_search(*args, **kwargs):
        raise AssertionError("the full search ran for an upright face")

    monkeypatch.setattr(detect, "haar_candidates", no_search)
    assert identity.measure(crops["obama"], crops["obama_speech"]) == whole
    monkeypatch.undo()
    turned = np.asarray(Image.fromarray(crops["obama"]).rotate(40, resample=Image.Resampling.BICUBIC))
    assert identity.descriptor(turned) is not None


@needs_dlib
def test_a_crop_met_again_is_not_described_again(crops, monkeypatch):
    """A batch meets one photo in many rows: its crop's face is found and described once per process.
    A reconstruction, drawn in its crop's frame, is fitted from the crop's face box without a search."""
    first = identity.measure(crops["obama"], crops["obama_speech"])
    described, searched = [], []
    real_chip, real_find = identity._chip, identity._find_face
    monkeypatch.setattr(identity, "_chip", lambda rgb, face: described.append(rgb) or real_chip(rgb, face))
    monkeypatch.setattr(identity, "_find_face", lambda rgb: searched.append(rgb) or real_find(rgb))
    again = identity.measure(crops["obama"], crops["obama_in_two"])
    assert len(described) == 1 and searched == []  # the reconstruction only, and no search
    assert again["identity"] < identity.SAME_PERSON and first["identity"] < identity.SAME_PERSON
    changed = crops["obama"].copy()
    changed[0, 0] ^= 1  # another crop, however alike, is described afresh: aligned, its face is where FFHQ puts it
    identity.measure(changed, crops["obama_speech"])
    assert len(described) == 3 and searched == []


@needs_dlib
def test_a_face_away_from_where_alignment_puts_it_is_searched_for(crops, monkeypatch):
    """A --no-align input framed otherwise: the crop's face is not at the aligned place, nor is it
    where the reconstruction's is, and each is found by searching."""
    small = Image.fromarray(crops["obama"]).resize((560, 560), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (1024, 1024), (128, 128, 128))
    canvas.paste(small, (440, 20))
    elsewhere = np.asarray(canvas)
    searched = []
    real_find = identity._find_face
    monkeypatch.setattr(identity, "_find_face", lambda rgb: searched.append(rgb) or real_find(rgb))
    entry = identity.measure(elsewhere, crops["obama"])
    assert len(searched) == 2 and entry["identity_note"] is None
    assert entry["identity"] < 0.2, entry  # the same photo


@needs_dlib
def test_fitting_a_reconstruction_from_its_crops_box_measures_as_a_search_does(crops):
    """The shortcuts (the crop's face fitted where alignment puts it, the reconstruction's at the
    crop's box, neither searched for) give the distance that searching each image for its face
    gives, for the same person and for another."""
    for a, b in [("obama", "obama_speech"), ("obama", "obama_in_two"), ("biden", "biden_in_two"), ("obama", "biden"),
                 ("biden", "obama_speech")]:
        searched = float(np.linalg.norm(identity.descriptor(crops[a]) - identity.descriptor(crops[b])))
        assert identity.measure(crops[a], crops[b])["identity"] == pytest.approx(searched, abs=0.02), (a, b)


@needs_dlib
def test_measuring_many_pairs_at_once_gives_each_pairs_own_entry(crops, monkeypatch):
    """A morph's photos are measured together (their chips through the network in one pass): each
    entry is the one measuring that pair alone gives, whatever else is in the batch."""
    grey = np.full((1024, 1024, 3), 128, np.uint8)
    tiny = np.zeros((64, 64, 3), np.uint8)
    pairs = [(crops["obama"], crops["obama_speech"]), (crops["obama"], grey), (tiny, tiny),
             (crops["biden"], crops["obama"]), (grey, crops["biden"]), (crops["obama"], crops["biden_in_two"])]
    alone = []
    for pair in pairs:
        identity._CROPS.clear()
        alone.append(identity.measure(*pair))
    identity._CROPS.clear()
    passes = []
    real = identity._descriptors
    monkeypatch.setattr(identity, "_descriptors", lambda chips: passes.append(len(chips)) or real(chips))
    together = identity.measure_many(pairs)
    for got, want in zip(together, alone):
        assert got["identity_note"] == want["identity_note"]
        assert got["identity"] == pytest.approx(want["identity"], abs=2e-3) if want["identity"] is not None \
            else got["identity"] is None
    assert [e["identity_note"] for e in together] == [None, identity.NO_FACE_IN_RENDER, identity.TOO_SMALL, None,
                                                      identity.NO_FACE_IN_CROP, None]
    # One pass: two crops (obama once, though met three times) and three reconstructions with a face.
    assert passes == [5]


@needs_dlib
def test_a_reconstruction_without_a_face_is_unlike_and_a_crop_without_one_is_not_measured(crops):
    rng = np.random.default_rng(0)
    for fake in (np.full((1024, 1024, 3), 128, np.uint8), rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)):
        entry = identity.measure(crops["obama"], fake)
        assert entry == {"identity": None, "identity_note": identity.NO_FACE_IN_RENDER}
        assert identity.unlike(entry) and "no face" in identity.reason(entry)
        # A photo with no face (--no-align on a non-face) is PSNR's business, not identity's.
        entry = identity.measure(fake, crops["obama"])
        assert entry == {"identity": None, "identity_note": identity.NO_FACE_IN_CROP}
        assert not identity.unlike(entry)


@needs_dlib
def test_smaller_renders_measure_like_1024_ones(crops):
    # A 128 or 256 px model's renders (resized here as the encoder's target is, bilinear) against 1024 px.
    for a, b in [("obama", "obama_speech"), ("obama", "biden")]:
        full = identity.measure(crops[a], crops[b])["identity"]
        for size in (256, identity.MIN_SIZE):
            small = [np.asarray(Image.fromarray(crops[n]).resize((size, size), Image.Resampling.BILINEAR))
                     for n in (a, b)]
            assert identity.measure(*small)["identity"] == pytest.approx(full, abs=0.05), (a, b, size)


def test_renders_below_the_minimum_size_are_not_measured():
    tiny = np.zeros((identity.MIN_SIZE - 1, identity.MIN_SIZE - 1, 3), np.uint8)
    assert identity.measure(tiny, tiny) == {"identity": None, "identity_note": identity.TOO_SMALL}
    assert not identity.unlike({"identity": None, "identity_note": identity.TOO_SMALL})
    # The summary line says nothing of an identity not measured (a demo model's 64 px renders): it ends at the SSIM.
    from interp_cli import likeness

    entry = {"input": "a.png", "psnr": 30.0, "ssim": 0.9, "poor": False, **identity.measure(tiny, tiny)}
    assert likeness.describe([entry]) == "likeness: a.png 30.0 dB SSIM 0.90"


def _python(code: str, *args: str) -> dict:
    """Run `code` in a fresh Python with this worktree first on the path; its stdout is one JSON document."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_where_dlib_its_model_and_the_align_extra_are_installed_the_check_is_available(monkeypatch):
    """Every measuring test here skips where `available()` is false: where dlib imports with its face chips, the
    recogniser's model is installed and alignment works, it must say so (else the report's identity is null
    on a machine that has all it needs, and this file tests nothing); without the model it must not."""
    from interp_cli.align import alignment_available
    from interp_cli.align.landmarks import model_path

    try:
        import dlib
    except (ImportError, OSError):
        pytest.skip("needs the align extra with dlib-bin")
    installed = hasattr(dlib, "get_face_chip") and model_path(identity.MODEL_FILENAME) is not None
    if not (installed and alignment_available()):
        pytest.skip("needs the align extra with dlib-bin")
    assert identity.available() is True
    monkeypatch.setattr("interp_cli.align.landmarks.model_path", lambda name: None)
    assert identity.available() is False


def test_dlib_is_imported_only_when_a_render_is_large_enough():
    # The cli module imports nothing heavy, and a demo-size (64 px) report never loads dlib.
    result = _python(
        "import json, sys, numpy as np\n"
        "import interp_cli.cli\n"
        "at_import = 'dlib' in sys.modules\n"
        "from interp_cli import likeness\n"
        "image = np.zeros((64, 64, 3), np.uint8)\n"
        "entry = likeness.measure(image, image)\n"
        "print(json.dumps({'at_import': at_import, 'after': 'dlib' in sys.modules, 'entry': entry}))\n")
    assert result["at_import"] is False and result["after"] is False
    assert result["entry"]["identity"] is None and result["entry"]["identity_note"] == identity.TOO_SMALL


@needs_dlib
def test_without_dlib_the_distance_is_none_and_nothing_else_changes(crops, tmp_path):
    # A Python where `import dlib` fails, as on a platform without a dlib-bin wheel.
    paths = []
    for name in ("obama", "biden"):
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(crops[name]).save(paths[-1])
    code = ("import json, sys\n"
            "sys.modules['dlib'] = None  # import dlib raises ImportError\n"
            "import numpy as np\nfrom PIL import Image\n"
            "from interp_cli import identity, likeness\n"
            "a, b = (np.asarray(Image.open(p)) for p in sys.argv[1:])\n"
            "entry = likeness.measure(b, a)\n"
            "print(json.dumps({'available': identity.available(), 'entry': entry,\n"
            "                  'warning': likeness.warning('obama.png', entry)}))\n")
    without = _python(code, *map(str, paths))
    from interp_cli import likeness

    with_dlib = likeness.measure(crops["biden"], crops["obama"])
    assert with_dlib["identity"] > identity.SAME_PERSON and with_dlib["poor"]
    assert without["available"] is False
    entry = without["entry"]
    assert entry["identity"] is None and entry["identity_note"] == identity.NO_DLIB
    assert entry["psnr"] == with_dlib["psnr"] and entry["ssim"] == with_dlib["ssim"]
    assert entry["poor"] == (entry["psnr"] < likeness.POOR_PSNR_DB)
    assert likeness.describe([{"input": "obama.png", **entry}]).count("identity") == 0
    if entry["poor"]:  # the PSNR warning, with no identity clause
        assert "dlib" not in without["warning"] and "distance" not in without["warning"]
        assert without["warning"].startswith("warning: obama.png: the code reproduces this photo poorly")


@needs_dlib
def test_a_damaged_recognition_model_leaves_identity_none_and_says_why(crops, tmp_path, monkeypatch):
    from interp_cli.align import landmarks

    damaged = tmp_path / identity.MODEL_FILENAME
    damaged.write_bytes(b"not a dlib model" * 100)
    real = landmarks.model_path
    monkeypatch.setattr(landmarks, "model_path", lambda filename=landmarks.MODEL_FILENAME:
                        damaged if filename == identity.MODEL_FILENAME else real(filename))
    identity._models.cache_clear()
    try:
        entry = identity.measure(crops["obama"], crops["biden"])
    finally:
        identity._models.cache_clear()
    assert entry["identity"] is None and entry["identity_note"].startswith(
        f"{damaged}: damaged, or not the file face_recognition_models 0.3.0 installs (sha256 ")
    assert entry["identity_note"].endswith(f"; reinstall it: {landmarks.REINSTALL_MODELS}")
    assert not identity.unlike(entry)


@needs_dlib
def test_the_identity_check_says_once_that_the_alignment_cache_was_not_written(crops, tiny_ckpt, tmp_path,
                                                                                monkeypatch):
    """With --no-align the identity check is the first to load the landmark model: the warning about an
    alignment cache it could not write went nowhere, as it loaded the model without the command's log."""
    from interp_cli.align import landmarks
    from interp_cli.session import Session

    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "align").write_text("a file where the cache folder goes\n")  # cannot be written
    said = []
    session = Session(str(tiny_ckpt), "cpu", log=said.append, progress=False, cache_dir=tmp_path / "cache")
    landmarks.load_shape_predictor.cache_clear()  # this process has not loaded it yet, as in a --no-align run
    identity._models.cache_clear()
    try:
        for _ in range(2):  # a second morph (a batch's next row) says nothing again
            entries = session.likeness(["obama.png"], np.zeros((1, 6, 32), np.float32), [crops["obama"]],
                                       renders={0: crops["obama_speech"]}, log=said.append)
            assert entries[0]["identity"] is not None
    finally:
        landmarks.load_shape_predictor.cache_clear()
        identity._models.cache_clear()
    warnings = [line for line in said if "cache" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: face-alignment cache not written ("), said
