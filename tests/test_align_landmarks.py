"""dlib's serialization format and our port of its 68-point shape predictor.

The reference is tests/data/faces/dlib_landmarks.json: the boxes dlib's HOG detector found and
the landmarks dlib's own predictor returned for them (integers, as dlib reports them).
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from interp_cli.align import landmarks
from interp_cli.dlib_format import DlibFormatError, IntStream, code_starts, decode_int_stream, floats_from_pairs

ROOT = Path(__file__).resolve().parents[1]
FACES_DIR = Path(__file__).parent / "data" / "faces"
REFERENCE = json.loads((FACES_DIR / "dlib_landmarks.json").read_text())
REFERENCE_FACES = [
    (photo, index) for photo, record in REFERENCE.items() if photo != "_about" for index in range(len(record["faces"]))
]

needs_model = pytest.mark.skipif(
    landmarks.model_path() is None,
    reason="face_recognition_models (the align extra) is not installed: pip install 'interp-cli[align]'",
)


def encode_int(value: int) -> bytes:
    """dlib's integer code, written from its description: control byte (length | sign bit), then
    the magnitude's bytes, least significant first (0 is written as one zero byte)."""
    magnitude = abs(value)
    body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def dlib_grey(path: Path) -> np.ndarray:
    rgb = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB")).astype(np.uint16)
    return (rgb.sum(axis=2) // 3).astype(np.uint8)


# --- the integer stream -------------------------------------------------------------------


def test_decodes_every_integer_of_a_mixed_stream_across_many_blocks():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.integers(-(2**31) + 1, 2**31, 3000),
            rng.integers(-300, 300, 3000),
            [0, 1, -1, 255, 256, -65536, 2**24 - 1, 2**32 - 1],
        ]
    )
    rng.shuffle(values)
    data = np.frombuffer(b"".join(encode_int(int(v)) for v in values), np.uint8)
    # Tiny blocks force the speculative walk to start mid-code in most blocks.
    for block in (3, 7, 64, 1024):
        starts = code_starts(data, block=block)
        lengths = np.diff(np.append(starts, data.size))
        assert np.array_equal(lengths, (data[starts] & 0x0F) + 1)
        assert starts.size == values.size
    assert np.array_equal(decode_int_stream(data), values)


@pytest.mark.parametrize("values", [[5], [-7, 2**32 - 1], [0, 0, 0], [2**31, -1]])
def test_short_streams_and_codes_at_the_very_end(values):
    data = np.frombuffer(b"".join(encode_int(v) for v in values), np.uint8)
    assert decode_int_stream(data).tolist() == values


def test_int32_decoding_equals_int64_and_refuses_what_does_not_fit():
    """The parse decodes to int32 (half the memory): every value that fits is decoded as int64 decodes it, in chunks
    of any size (rounded to whole bytes of the packed code starts), and one past int32 is a format error, never a
    wrapped-around number."""
    rng = np.random.default_rng(1)
    values = [int(v) for v in rng.integers(-(2**31) + 1, 2**31, 500)] + [2**31 - 1, -(2**31) + 1, 0, 5]
    data = np.frombuffer(b"".join(encode_int(v) for v in values), np.uint8)
    for chunk in (3, 8, 61, 1 << 20):
        decoded = decode_int_stream(data, dtype=np.int32, chunk=chunk)
        assert decoded.dtype == np.int32 and decoded.tolist() == values == decode_int_stream(data, chunk=chunk).tolist()
    for past in (2**31, -(2**31), 2**32 - 1):
        with pytest.raises(DlibFormatError, match="past 32 bits"):
            decode_int_stream(np.frombuffer(encode_int(7) + encode_int(past), np.uint8), dtype=np.int32)


def test_truncated_stream_is_a_format_error():
    data = np.frombuffer(encode_int(1000) + encode_int(2**20)[:-1], np.uint8)
    with pytest.raises(DlibFormatError):
        decode_int_stream(data)


@pytest.mark.parametrize("length", [0, 5, 8, 15])
def test_an_integer_code_of_no_or_more_than_4_bytes_is_a_format_error(length):
    """A damaged model's control byte may state 0 or 5 to 15 magnitude bytes, which no shape predictor writes:
    refused as the model's damage, never read as another number."""
    data = np.frombuffer(encode_int(1000) + bytes([length]) + bytes(range(1, length + 1)) + encode_int(7), np.uint8)
    with pytest.raises(DlibFormatError, match="unsupported length"):
        decode_int_stream(data)


@pytest.mark.parametrize("shape", [(-1, -1, 2, 2), (-2, -1, 1, 1), (2**20, 2**20, 2**20, 2**20)])
def test_a_tensor_of_an_impossible_shape_is_a_format_error(shape):
    """A damaged DNN file (the face descriptor's) stating negative sizes, or sizes whose product wraps past 64
    bits, is refused as damage, not read into a tensor of another shape or a ValueError of NumPy's."""
    from interp_cli.dlib_format import ByteReader

    data = b"".join(encode_int(v) for v in (2, *shape)) + bytes(64)
    with pytest.raises(DlibFormatError, match="impossible tensor shape"):
        ByteReader(data).tensor()


def test_floats_from_mantissa_exponent_pairs():
    pairs = np.array([[3, -1], [-5, 2], [0, 0], [1, 32000], [1, 32001], [0, 32002]])
    values = floats_from_pairs(pairs)
    assert values.dtype == np.float32
    assert values[:3].tolist() == [1.5, -20.0, 0.0]
    assert values[3] == np.inf and values[4] == -np.inf and np.isnan(values[5])


def test_parse_rejects_a_stream_that_is_not_a_shape_predictor():
    with pytest.raises(DlibFormatError, match="version"):
        landmarks.parse_shape_predictor(encode_int(7) + encode_int(1))


# --- the model ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def predictor():
    return landmarks.load_shape_predictor()


@needs_model
def test_model_layout(predictor):
    assert predictor.initial_shape.shape == (68, 2)
    # 15 cascade levels of 500 depth-4 trees over 500 feature pixels, leaves of 136 coordinates.
    assert predictor.split_threshold.shape == (15, 500, 15)
    assert predictor.leaf_values.shape == (15, 500, 16, 136)
    assert predictor.anchor_index.shape == (15, 500) and predictor.anchor_delta.shape == (15, 500, 2)
    assert predictor.split_pixel_a.max() < 500 and predictor.anchor_index.max() < 68
    # The mean shape lives in box-normalised coordinates: roughly inside the unit square.
    assert predictor.initial_shape.min() > -0.2 and predictor.initial_shape.max() < 1.2


@needs_model
def test_cached_model_equals_a_fresh_parse(predictor):
    fresh = landmarks.parse_shape_predictor(np.fromfile(landmarks.model_path(), np.uint8))
    for name, array in fresh.arrays().items():
        assert np.array_equal(array, getattr(predictor, name)), name


@needs_model
def test_cache_round_trip_and_corrupt_cache(tmp_path, predictor):
    cache = tmp_path / "model.npys"
    landmarks._store_cached(cache, predictor)
    loaded = landmarks._load_cached(cache)
    assert loaded is not None
    for name, array in predictor.arrays().items():
        assert getattr(loaded, name).dtype == array.dtype and np.array_equal(getattr(loaded, name), array), name
    cache.write_bytes(b"not an npys")
    assert landmarks._load_cached(cache) is None


def _hostile(predictor, **changes):
    arrays = predictor.arrays()
    arrays.update(changes)
    return landmarks.ShapePredictor(**arrays)


@needs_model
@pytest.mark.parametrize("change", [
    # Indices a face follows, pointing outside the arrays they index: an IndexError mid-morph, or worse.
    lambda p: _hostile(p, split_pixel_a=np.full_like(p.split_pixel_a, 10**6)),
    lambda p: _hostile(p, anchor_index=np.full_like(p.anchor_index, -1)),
    # Well-formed arrays that do not fit together, or of another dtype (read as its bytes, they would be garbage).
    lambda p: _hostile(p, leaf_values=p.leaf_values[:, :, :8]),
    lambda p: _hostile(p, split_threshold=p.split_threshold.astype(np.float64)),
    # Trees of one leaf: no splits to check (their empty index arrays have no min or max to compare).
    lambda p: _hostile(p, **{name: getattr(p, name)[:, :, :0] for name in ("split_pixel_a", "split_pixel_b",
                                                                          "split_threshold")},
                       leaf_values=p.leaf_values[:, :, :1]),
])
def test_a_cache_entry_that_is_not_a_models_arrays_is_not_used(tmp_path, predictor, change):
    """Format 1 took any seven arrays of the right names: a damaged or hostile entry sent the cascade's lookups
    outside its arrays. Now the entry is checked before use, and refused means rebuilt."""
    cache = tmp_path / "model.npys"
    landmarks._store_cached(cache, change(predictor))
    assert landmarks._load_cached(cache) is None


def _a_new_runs_predictor():
    """`load_shape_predictor` as a new process calls it, none loaded yet (and none kept after)."""
    try:
        landmarks.load_shape_predictor.cache_clear()
        return landmarks.load_shape_predictor()
    finally:
        landmarks.load_shape_predictor.cache_clear()


def _format_1_entry() -> Path:
    """Where format 1 kept the installed model's entry in the cache dir (its folder made), as it named it."""
    model = landmarks.model_path()
    entry = landmarks.cache_dir("align") / f"{model.stem}-{landmarks.file_sha256(model)[:16]}-v1.npz"
    entry.parent.mkdir(parents=True, exist_ok=True)
    return entry


@needs_model
def test_a_damaged_entry_is_rebuilt_into_a_good_one(tmp_path, monkeypatch, predictor):
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    entry = landmarks._cache_file(landmarks.model_path())
    landmarks._store_cached(entry, _hostile(predictor, split_pixel_b=np.full_like(predictor.split_pixel_b, 10**6)))
    rebuilt = _a_new_runs_predictor()
    assert np.array_equal(rebuilt.split_pixel_b, predictor.split_pixel_b)
    again = landmarks._load_cached(entry)
    assert again is not None and np.array_equal(again.split_pixel_b, predictor.split_pixel_b)


@needs_model
def test_an_entry_of_format_1_is_converted_not_parsed_again(tmp_path, monkeypatch, predictor):
    """A user's first run after the format change reads the old .npz (a fraction of a second) instead of
    parsing the 100 MB model again (seconds); the old entry is left for an older interp sharing the cache."""
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    model, old = landmarks.model_path(), _format_1_entry()
    np.savez(old, **predictor.arrays())  # as format 1 wrote it
    parsed = []
    real_parse = landmarks.parse_shape_predictor
    monkeypatch.setattr(landmarks, "parse_shape_predictor", lambda data: parsed.append(1) or real_parse(data))
    converted = _a_new_runs_predictor()
    assert parsed == [] and old.is_file()
    assert sorted(p.name for p in old.parent.iterdir()) == sorted([old.name, landmarks._cache_file(model).name])
    mapped = landmarks._load_cached(landmarks._cache_file(model))
    for name, array in predictor.arrays().items():
        assert np.array_equal(getattr(converted, name), array) and np.array_equal(getattr(mapped, name), array), name


@needs_model
def test_a_run_maps_the_cached_model_instead_of_reading_it(tmp_path, monkeypatch, predictor):
    """The 65 MB entry was read whole on every run (0.1-0.7 s): now it is mapped, and a face's landmarks fault in
    the pages they use. What the process reads with read() (its `rchar`) while loading the model and finding one
    face's landmarks, in a fresh process: the entry's headers, not its 65 MB."""
    if not Path("/proc/self/io").exists():
        pytest.skip("the bytes a process reads are counted in /proc/self/io")
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    model = landmarks.model_path()
    landmarks._store_cached(landmarks._cache_file(model), predictor)  # the sha256 record too: no hashing below
    script = (
        "import numpy as np\n"
        "from PIL import Image\n"
        "from interp_cli.align import landmarks\n"
        "def read():\n"
        "    return int(dict(line.split(': ') for line in open('/proc/self/io').read().splitlines())['rchar'])\n"
        f"grey = np.asarray(Image.open({str(FACES_DIR / 'obama.jpg')!r}).convert('L'))\n"
        "before = read()\n"
        "predictor = landmarks.load_shape_predictor()\n"
        "h, w = grey.shape\n"
        "points = predictor.predict(grey, (w * 0.3, h * 0.2, w * 0.7, h * 0.6))\n"
        "print(read() - before, int(points.shape[0]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    read, points = map(int, done.stdout.split())
    assert points == 68 and read < 1_000_000, read  # the entry is 65 MB
@needs_model
def test_entries_of_different_model_files_coexist_up_to_a_bound(tmp_path, predictor, monkeypatch):
    """Entries are kept by use, not by whose they are: before, storing one deleted every other entry of the
    model's name, so two installs sharing a cache deleted each other's and both parsed on every run."""
    monkeypatch.setattr(landmarks, "MAX_CACHED", 2)
    first, second, third = (tmp_path / f"model-{tag * 16}-v1.npz" for tag in "abc")
    landmarks._store_cached(first, predictor)
    landmarks._store_cached(second, predictor)
    assert first.exists() and second.exists()
    os.utime(second, (1, 1))
    assert landmarks._load_cached(first) is not None  # used again: newer than `second` even if `first` was older
    os.utime(first, (2, 2))
    assert landmarks._load_cached(first) is not None
    landmarks._store_cached(third, predictor)
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, third.name]


@needs_model
def test_two_installs_with_one_model_share_the_cache_entry(tmp_path, monkeypatch):
    """Two installs of face_recognition_models (a venv and a container, a reinstall) whose model files
    have different mtimes, sharing one cache: before, each keyed the entry by size and mtime and deleted
    the other's as stale, so each run parsed the 100 MB file again (seconds)."""
    installed = landmarks.model_path()
    copy = tmp_path / "other-install" / installed.name
    copy.parent.mkdir()
    shutil.copyfile(installed, copy)
    os.utime(copy, (1_000_000_000, 1_000_000_000))
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    parsed = []
    real_parse = landmarks.parse_shape_predictor
    monkeypatch.setattr(landmarks, "parse_shape_predictor", lambda data: parsed.append(1) or real_parse(data))
    try:
        for model in (installed, copy, installed, copy):
            monkeypatch.setattr(landmarks, "model_path", lambda model=model: model)
            landmarks.load_shape_predictor.cache_clear()  # each a new run
            landmarks.load_shape_predictor()
    finally:
        landmarks.load_shape_predictor.cache_clear()
    assert len(parsed) == 1
    assert len(list((tmp_path / "cache" / "align").glob("*.npys"))) == 1


@needs_model
def test_a_cache_that_cannot_be_written_is_said_once(tmp_path):
    """A real file-size limit below the 65 MB entry: before, nothing was said, and every run parsed again."""
    env = {**os.environ, "INTERP_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    limit = (5_000_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1])  # the hard limit kept: it can be raised
    done = subprocess.run([sys.executable, "-m", "interp_cli", "align", str(FACES_DIR / "obama.jpg"), "--size", "256",
                           "-o", str(tmp_path / "aligned.png")], env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, limit))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: face-alignment cache not written ({tmp_path / 'cache' / 'align'}: cannot write: "
                        "file too large (over this process's file-size limit of 5,000,000 bytes, `ulimit -f`); raise "
                        "that limit); continuing without it"], done.stderr
    # Neither an entry nor a temp; dlib's HOG detector (150 KB, under the limit) is kept beside it.
    kept = [p.name for p in (tmp_path / "cache" / "align").iterdir()]
    assert [name for name in kept if not name.startswith("frontal_face_detector-")] == []
    assert (tmp_path / "aligned.png").is_file()


@needs_model
@pytest.mark.parametrize("photo,index", REFERENCE_FACES)
def test_landmarks_match_dlib_given_dlib_box(predictor, photo, index):
    reference = REFERENCE[photo]["faces"][index]
    expected = np.array(reference["landmarks"], dtype=np.float64)
    points = predictor.predict(dlib_grey(FACES_DIR / photo), reference["box"])
    assert points.shape == (68, 2)
    error = np.hypot(*(points - expected).T)
    # dlib reports integers, so even a perfect port is ~0.38 px off on average before rounding.
    assert error.mean() < 0.5, f"mean error {error.mean():.3f} px"
    rounded_matches = np.all(np.floor(points + 0.5) == expected, axis=1).mean()
    assert rounded_matches >= 0.97, f"only {rounded_matches:.0%} of the points round to dlib's"


@needs_model
def test_batched_prediction_equals_single(predictor):
    grey = dlib_grey(FACES_DIR / "two_people.jpg")
    boxes = [face["box"] for face in REFERENCE["two_people.jpg"]["faces"]]
    batched = predictor.predict_many(grey, boxes)
    for box, points in zip(boxes, batched):
        assert np.array_equal(points, predictor.predict(grey, box))


@needs_model
def test_face_partly_outside_the_image(predictor):
    # Pixels outside the image read as 0 (as in dlib); the cascade must not index out of range.
    grey = dlib_grey(FACES_DIR / "obama.jpg")
    left, top, right, bottom = REFERENCE["obama.jpg"]["faces"][0]["box"]
    shifted = (left - 400, top - 300, right - 400, bottom - 300)
    points = predictor.predict(grey, shifted)
    assert np.isfinite(points).all()


@needs_model
@pytest.mark.parametrize("angle", [0.0, 20.0])
def test_a_face_cut_by_every_edge_of_the_photo_is_fitted_as_if_the_photo_went_on_in_black(predictor, angle):
    """dlib reads a pixel outside the photo as 0. Fitted on a window that cuts through the face on all four sides,
    the landmarks must be those of the same window padded with black: a feature pixel one past the right or bottom
    edge read another row's pixel (or, on the last row, past the end of the photo) where `<` was `<=`."""
    grey = dlib_grey(FACES_DIR / "obama.jpg")
    left, top, right, bottom = REFERENCE["obama.jpg"]["faces"][0]["box"]
    w, h = right - left, bottom - top
    window = grey[top + h // 3:bottom - h // 3, left + w // 3:right - w // 3]
    box = (-w // 3, -h // 3, w - w // 3, h - h // 3)  # the face box in the window's coordinates
    margin = 2 * max(w, h)
    padded = np.zeros((window.shape[0] + 2 * margin, window.shape[1] + 2 * margin), np.uint8)
    padded[margin:-margin, margin:-margin] = window
    cut = predictor.predict(window, box, angle)
    whole = predictor.predict(padded, tuple(v + margin for v in box), angle) - margin
    assert np.abs(cut - whole).max() < 1e-6


def test_similarity_matrix_recovers_rotation_and_scale():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(68, 2)).astype(np.float32)
    angle, scale = 0.3, 1.7
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ rotation.T + [5.0, -2.0]
    assert np.allclose(landmarks.similarity_matrix(source, target), rotation, atol=1e-5)
    # A mirrored target must not be matched by a reflection (dlib excludes them too).
    mirrored = target * [-1.0, 1.0]
    assert np.linalg.det(landmarks.similarity_matrix(source, mirrored)) > 0


def test_missing_model_package_is_a_one_line_install_hint(monkeypatch):
    from interp_cli.errors import InterpError

    monkeypatch.setattr(landmarks, "model_path", lambda: None)
    landmarks.load_shape_predictor.cache_clear()
    try:
        with pytest.raises(InterpError) as caught:
            landmarks.load_shape_predictor()
    finally:
        landmarks.load_shape_predictor.cache_clear()
    message = str(caught.value)
    assert landmarks.INSTALL_ALIGN in message and "\n" not in message
    # No --no-align here: `interp align` and --paste cannot take it; morph adds it (tests/test_advice.py).
    assert "--no-align" not in message


def test_the_install_advice_names_the_align_extras_own_packages():
    """The advice names the packages, not `interp-cli[align]`: interp-cli is on no index, and pip would
    take somebody else's package of that name. setup.cfg's `align` extra is where they are decided."""
    import configparser
    import re
    from pathlib import Path

    from interp_cli.align.landmarks import INSTALL_ALIGN

    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    extra = [line.split(";")[0].strip() for line in config["options.extras_require"]["align"].splitlines() if line]
    named = re.findall(r"'([^']+)'", INSTALL_ALIGN)
    assert named == [spec for spec in extra if not spec.startswith("dlib-bin")]
    assert "dlib-bin" in INSTALL_ALIGN and "interp-cli" not in INSTALL_ALIGN


@needs_model
def test_a_hostile_npz_entry_is_parsed_over_not_allocated(tmp_path, monkeypatch, predictor):
    """A format-1 entry whose first array's header claims 200 TB: numpy allocated what it claimed, and the
    MemoryError went up as a traceback on every run. It now counts as no entry: the model is parsed again."""
    import zipfile

    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    old = _format_1_entry()
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 512), }"
    header += b" " * (127 - 10 - len(header)) + b"\n"
    with zipfile.ZipFile(old, "w") as archive:
        archive.writestr("initial_shape.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    loaded = _a_new_runs_predictor()
    assert np.array_equal(loaded.leaf_values, predictor.leaf_values)


def _fake_install(folder: Path, name: str, data: bytes) -> Path:
    """A face_recognition_models package holding `data` as its model file `name`, first on PYTHONPATH."""
    models = folder / landmarks.MODEL_PACKAGE / "models"
    models.mkdir(parents=True)
    (models.parent / "__init__.py").write_text("")
    (models / name).write_bytes(data)
    return models / name


def _with_last_float(data: bytes, exponent: int) -> bytes:
    """The model with its last float (an anchor offset's y) given `exponent`: 32002 is dlib's NaN."""
    last = int(code_starts(np.frombuffer(data, np.uint8))[-1])  # the last float's exponent code
    return data[:last] + encode_int(exponent)


@needs_model
def test_a_model_with_bytes_after_its_end_is_refused_not_parsed_as_if_whole():
    """The sha256 pin covers the shipped file's name only; for any other the parse's own checks are what refuses a
    damaged file (two downloads run together, say): the model's integers followed by one more."""
    data = landmarks.model_path().read_bytes() + encode_int(0)
    with pytest.raises(DlibFormatError, match="trailing data after the shape predictor"):
        landmarks.parse_shape_predictor(np.frombuffer(data, np.uint8))


@needs_model
@pytest.mark.parametrize("damage", ["truncated", "its first code damaged", "empty", "a NaN",
                                    "a float 2**200 times too large", "a float made tiny, which parses"])
def test_a_damaged_landmark_model_is_one_line_naming_it_and_how_to_reinstall_it(tmp_path, damage):
    """The installed .dat damaged (a disk error, an interrupted install): the line named the file but not what
    mends it; now it says the pip command that writes it again, and the run stops with exit 1 as a damaged
    checkpoint does (nothing written). A NaN or a huge float parsed, and alignment failed as an internal error
    (numpy's "SVD did not converge") or found faces nowhere near them. A value changed within range parsed, and
    alignment went on with other landmarks, exit 0: the file's sha256 is pinned now (presets.DLIB_MODEL_SHA256),
    so any change is refused, before the parse; the parse's own checks stay for what the pin does not cover."""
    data = landmarks.model_path().read_bytes()
    data = {"truncated": data[:len(data) // 3], "its first code damaged": b"\x7f" + data[1:],
            "empty": b"", "a NaN": _with_last_float(data, 32002), "a float 2**200 times too large":
            _with_last_float(data, 200), "a float made tiny, which parses": _with_last_float(data, -60)}[damage]
    if damage in ("a NaN", "a float 2**200 times too large"):
        with pytest.raises(DlibFormatError):
            landmarks.parse_shape_predictor(np.frombuffer(data, np.uint8))
    if damage.endswith("which parses"):
        landmarks.parse_shape_predictor(np.frombuffer(data, np.uint8))  # no error: only the pin refuses it
    model = _fake_install(tmp_path / "site", landmarks.MODEL_FILENAME, data)
    env = {**os.environ, "INTERP_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": f"{tmp_path / 'site'}:{ROOT}"}
    done = subprocess.run([sys.executable, "-m", "interp_cli", "align", str(FACES_DIR / "obama.jpg"), "--size", "256",
                           "-o", str(tmp_path / "aligned.png")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"interp: error: {model}: damaged, or not the file face_recognition_models 0.3.0 installs "
                           "(sha256 ")
    # with the pip of the Python that runs interp: a bare `pip` may be another Python's (a venv not activated)
    assert line.endswith(f"); reinstall it: {shlex.quote(sys.executable)} -m pip install --force-reinstall --no-deps "
                         f"'face_recognition_models>=0.3.0'")
    assert not (tmp_path / "aligned.png").exists() and model.read_bytes() == data


@needs_model
def test_parsing_the_model_takes_no_more_memory_than_decoding_it():
    """The check for damaged floats (below) stacked a copy of the 65 MB of leaves and took their absolute values:
    a first run's parse peaked ~57 MB above its decoding, where a first 1024 px morph's peak memory is. numpy's
    buffers are traced by tracemalloc, so both peaks are counted, not timed."""
    import tracemalloc

    data = landmarks.model_path().read_bytes()
    tracemalloc.start()
    try:
        stream = decode_int_stream(np.frombuffer(data, np.uint8))
        decoding = tracemalloc.get_traced_memory()[1]
        del stream
        tracemalloc.reset_peak()
        landmarks.parse_shape_predictor(data)
        parsing = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert parsing <= decoding + 2**20, f"parse peaked {(parsing - decoding) / 2**20:.1f} MiB above decoding"


@needs_model
def test_parsing_the_model_peaks_at_most_two_and_a_half_times_its_file():
    """A user's first 1024 morph parses the 100 MB model on top of the loaded checkpoint, so the parse's peak was the
    morph's: 386 MiB of numpy buffers (four times the file: its integers decoded to int64, 255 MB, beside a bool per
    byte and the leaves stacked twice), 2016 MiB for the morph, against 1759 for a second run. The parse now needs
    the integers at 32 bits (1.3 times the file), the arrays it keeps (0.7 times) and small temporaries: 2.25 times.
    tracemalloc counts numpy's buffers exactly, the same on every run and machine: a count, not a timing."""
    import tracemalloc

    data = np.fromfile(landmarks.model_path(), np.uint8)
    tracemalloc.start()
    try:
        landmarks.parse_shape_predictor(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 2.5 * data.size, f"parse peaked at {peak / data.size:.2f} times the file ({peak / 2**20:.0f} MiB)"


@needs_model
def test_a_first_load_keeps_nothing_of_the_parse_resident(tmp_path):
    """The first load, into an empty cache, under the command's malloc settings (`keep_freed_memory`, which keeps up
    to 1 GB of freed heap): the parse's freed heap and its 65 MB copy of the model stayed resident, ~370 MB, under
    the checkpoint and the encoder. Now the model is mapped from the entry just written and the freed heap given back.
    A real process, its own resident size read from /proc before and after: a size of this process, not a timing."""
    if not Path("/proc/self/status").exists():
        pytest.skip("reads the resident size from /proc")
    script = textwrap.dedent("""
        from interp_cli.malloc import keep_freed_memory
        from interp_cli.align import landmarks

        def resident():
            return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmRSS"))

        keep_freed_memory()
        before = resident()
        predictor = landmarks.load_shape_predictor()
        print(resident() - before, not predictor.leaf_values.flags.writeable)  # a read-only map, not the heap
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "INTERP_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    grown, mapped = done.stdout.split()
    assert mapped == "True"
    assert int(grown) < 64 * 2**20, f"a first load left {int(grown) / 2**20:.0f} MiB more resident"


@needs_model
@pytest.mark.parametrize("where, value, refused", [
    ("leaves", np.nan, "leaf values"), ("leaves", -11.0, "leaf values"), ("leaves", np.inf, "leaf values"),
    ("thresholds", -np.inf, "split thresholds"), ("thresholds", 1e6, None)])
def test_a_damaged_float_anywhere_in_the_model_is_refused(monkeypatch, where, value, refused):
    """Each cascade level's last leaf value or threshold damaged, as a bad exponent code parses: a NaN, an
    infinity, or a coordinate past 10 face boxes. Thresholds are pixel differences, not coordinates: only NaN and
    infinity are refused there."""
    real = landmarks._read_forest

    def damaged(stream, n_coords):
        forest = list(real(stream, n_coords))
        array = forest[3 if where == "leaves" else 2].copy()
        array.reshape(-1)[-1] = value
        forest[3 if where == "leaves" else 2] = array
        return tuple(forest)

    monkeypatch.setattr(landmarks, "_read_forest", damaged)
    data = landmarks.model_path().read_bytes()
    if refused is None:
        assert landmarks.parse_shape_predictor(data).split_threshold.max() == value
    else:
        with pytest.raises(DlibFormatError, match=f"^its {refused} hold NaN, infinite or out-of-range values$"):
            landmarks.parse_shape_predictor(data)


@pytest.fixture(scope="module")
def tree_count_at():
    """The model's bytes, and where the first cascade level's tree count's code begins and ends."""
    data = landmarks.model_path().read_bytes()
    array = np.frombuffer(data, np.uint8)
    stream = IntStream(decode_int_stream(array, dtype=np.int32))
    stream.expect(1, "shape_predictor version")
    stream.float_column()
    stream.integer()  # the number of cascade levels
    at = stream.position
    assert stream.values[at:at + 2].tolist() == [500, 15]  # 500 trees of 15 splits
    starts = code_starts(array)
    return data, int(starts[at]), int(starts[at + 1])


@needs_model
@pytest.mark.parametrize("trees, refused", [(0, "unsupported forest: 0 trees with 15 splits"),
                                            (-1, "unsupported forest: -1 trees with 15 splits"),
                                            (2**31 - 1, "data ends in the middle of an object")])
def test_a_damaged_tree_count_is_refused_before_the_trees_are_read(tree_count_at, trees, refused):
    """The first cascade level's tree count (500) damaged, where the sha256 pin does not look (a model under another
    name): -1 moved the reader backwards and ended in numpy's "cannot reshape array" (an internal error, not the
    model named); a count past the file is refused from the stream's length, before any slice of it is taken."""
    data, start, end = tree_count_at
    with pytest.raises(DlibFormatError) as err:
        landmarks.parse_shape_predictor(np.frombuffer(data[:start] + encode_int(trees) + data[end:], np.uint8))
    assert str(err.value) == refused
