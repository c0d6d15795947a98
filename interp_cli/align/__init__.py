"""Offline FFHQ face alignment: find faces, place dlib's 68 landmarks, cut the FFHQ crop.

Public API:
    alignment_available() -> bool
    face_detectors() -> list[str]                     usable detectors, best first ("dlib", "haar")
    detect_faces(image, *, detector=None, log=None) -> list[Face]       faces sorted left to right
    align_face(image, *, output_size=1024, face=None, name="image", detector=None, log=None) -> AlignedFace

Images are used as given: pass them upright (`interp_cli.images.load_image` applies the EXIF
orientation); faces tilted in the picture by up to about 45 degrees are found and aligned.
Everything runs on the CPU from models shipped in pip packages: dlib's HOG face detector (the
`dlib-bin` wheel, where it exists) or else OpenCV's Haar cascades find faces, and dlib's
68-point model from `face_recognition_models` (run by our own numpy code, see `landmarks.py`)
places the landmarks. They come with the `align` extra; importing this package needs none.
`$INTERP_FACE_DETECTOR` (dlib or haar) picks the detector when the caller does not.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InterpError, NoFaceError, UsageError, option, pip_install, set_env
from .detect import Face
from .landmarks import INSTALL_ALIGN
from .ffhq import aligned_to_source, ffhq_quad, quad_side, render_aligned, source_to_aligned
from .cv import opencv

if TYPE_CHECKING:
    from PIL import Image

DETECTOR_ENV = "INTERP_FACE_DETECTOR"  # dlib or haar: the detector when the caller names none

__all__ = ["AlignedFace", "Face", "align_face", "alignment_available", "detect_faces", "face_detectors"]

MIN_INTER_OCULAR = 40.0  # px; below this the crop is mostly upsampling blur
MAX_ROLL_DEGREES = 45.0  # eye line tilt beyond the range the detectors are tested on
MAX_YAW_ASYMMETRY = 0.5  # see _yaw_asymmetry; about 45 degrees of head turn



@dataclass
class AlignedFace:
    """An FFHQ-aligned crop and where it came from.

    image: PIL RGB image, output_size x output_size.
    quad: [4, 2] float64, the source positions of the crop's corners in the order top-left,
        bottom-left, bottom-right, top-right (source pixel centres at integer coordinates; see
        `interp_cli.align.ffhq` for the exact mapping; `to_source`/`to_aligned` apply it).
    face_index: which face (0-based, left to right) was aligned; n_faces: how many were found.
    landmarks: [68, 2] float64 source pixel positions of that face's landmarks.
    warnings: one-line notes about a face that may align badly (tiny, strongly turned).
    """

    image: Image.Image
    quad: np.ndarray
    face_index: int
    n_faces: int
    landmarks: np.ndarray
    warnings: list[str] = field(default_factory=list)

    def to_source(self, points: np.ndarray) -> np.ndarray:
        """Aligned-image pixel positions [..., 2] -> source pixel positions [..., 2]."""
        return aligned_to_source(points, self.quad, self.image.size[0])

    def to_aligned(self, points: np.ndarray) -> np.ndarray:
        """Source pixel positions [..., 2] -> aligned-image pixel positions [..., 2]."""
        return source_to_aligned(points, self.quad, self.image.size[0])


def require_alignment(what: str = "face alignment", advice: str = "") -> None:
    """Raise the one message for a missing `align` extra, unless it is usable: `what` needs it (e.g.
    "--paste"), and `advice` is what else the command can do (only a command that takes --no-align
    offers it)."""
    if not alignment_available():
        raise InterpError(f"{what} needs the align extra (OpenCV and dlib's face landmark model): "
                          f"{INSTALL_ALIGN}{f'; or {advice}' if advice else ''}")


def alignment_available() -> bool:
    """Whether the `align` extra is installed: OpenCV imports and dlib's 68-point model file is there.

    The model package is located, not imported: its __init__ needs pkg_resources, which recent
    Python environments lack, and we only need its data file.
    """
    from .landmarks import model_path

    if importlib.util.find_spec("cv2") is None or model_path() is None:
        return False
    try:
        opencv()
    except ImportError:
        return False
    return True


def face_detectors() -> list[str]:
    """The face detectors usable here, best first: "dlib" (dlib's HOG detector, with the
    `dlib-bin` wheel) and "haar" (OpenCV's cascades, searched at three angles); [] without the extra."""
    if not alignment_available():
        return []
    from .detect import detector_names

    return detector_names()


def detect_faces(image: Image.Image, *, detector: str | None = None, log=None) -> list[Face]:
    """All faces in a PIL image, sorted left to right, each with its dlib-style box and 68 landmarks.

    detector: "dlib" or "haar"; None: `$INTERP_FACE_DETECTOR`, else the first of `face_detectors()`.
    Raises InterpError when the `align` extra (or the detector asked for) is missing. `log` gets the
    warning when the landmark model, parsed on first use, cannot be cached.
    """
    predictor, rgb = _prepare(image, log)
    from .detect import dlib_grey, find_faces

    return find_faces(predictor, dlib_grey(rgb), _detector(detector))


def align_face(
    image: Image.Image,
    *,
    output_size: int = 1024,
    face: int | None = None,
    name: str = "image",
    detector: str | None = None,
    log=None,
) -> AlignedFace:
    """FFHQ-align one face of a PIL image (or of an upright [H, W, 3] uint8 RGB array, read as it is).

    face=None aligns the largest face (the one with the largest FFHQ crop in source pixels);
    face=N the N-th from the left (0-based). `name` is the image's name for messages;
    `detector` and `log` as in `detect_faces`. Raises NoFaceError when no face is found, UsageError for a
    face number that does not exist, InterpError when the `align` extra is missing.
    """
    if not isinstance(output_size, int) or output_size < 1:
        raise UsageError(f"{name}: aligned size must be a positive number of pixels, not {output_size!r}")
    predictor, rgb = _prepare(image, log)
    from .detect import dlib_grey, find_faces

    # Every face, the default pick too: the count and the number reported for the
    # largest (`interp align`'s "face I of N" and JSON, morph's "N faces found, using face I", --paste's summary) are
    # then those --face counts. With the second search skipped when the first found one face, a big face right of
    # small ones was "face 0 of 1", and --face 0 aligned a small face instead (benchmarks/README.md, "Leftovers of
    # the eighth audit").
    faces = find_faces(predictor, dlib_grey(rgb), _detector(detector))
    if not faces:
        raise NoFaceError(name)  # the caller adds what to try: it depends on the command
    if face is None:
        # "Largest" by the FFHQ crop's size, which is what sets the crop's resolution; landmark
        # geometry measures that more steadily than the detector box does.
        index = max(range(len(faces)), key=lambda i: quad_side(ffhq_quad(faces[i].landmarks)))
    elif 0 <= face < len(faces):
        index = face
    else:
        found = f"{len(faces)} face{'s' if len(faces) != 1 else ''}"
        if face < 0:
            raise UsageError(f"{name}: {option('face', face)} is not a face number (faces are numbered from 0, "
                             "left to right)", path=name)
        # "--face 2" meant as "the second face" is the likely slip: the numbers there are are said.
        last = f" to {option('face', len(faces) - 1)}" if len(faces) > 1 else ""
        raise UsageError(f"{name}: {option('face', face)} but only {found} found (numbered from 0, left to right: "
                         f"{option('face', 0)}{last})", path=name)

    chosen = faces[index]
    quad = ffhq_quad(chosen.landmarks)
    crop = render_aligned(rgb, quad, output_size)
    from PIL import Image

    return AlignedFace(
        image=Image.fromarray(crop, "RGB"),
        quad=quad,
        face_index=index,
        n_faces=len(faces),
        landmarks=chosen.landmarks,
        warnings=_face_warnings(chosen, quad, index, len(faces), name, output_size),
    )


def _detector(name: str | None) -> str:
    """The detector to use: `name`, else `$INTERP_FACE_DETECTOR`, else the best installed one."""
    from .detect import detector_names

    available = detector_names()
    chosen = name or os.environ.get(DETECTOR_ENV) or available[0]
    # The advice names what chose it, in its reader's words: a caller's detector= keyword, else the variable
    # ("(or use haar)" said neither where nor how: the command line has no option for it).
    if chosen not in ("dlib", "haar"):
        raise UsageError(f"unknown face detector {chosen!r} ({'detector' if name else DETECTOR_ENV}): use dlib or haar")
    if chosen not in available:
        haar = 'pass detector="haar"' if name else set_env(DETECTOR_ENV, "haar")
        raise InterpError(f"the dlib face detector needs the dlib-bin package: {pip_install('dlib-bin')}; "
                          f"or use OpenCV's: {haar}")
    return chosen


def _prepare(image, log=None):
    """The landmark model and the image (PIL, or already an [H, W, 3] uint8 RGB array) as an [H, W, 3] uint8
    array; InterpError without the extra."""
    require_alignment()  # no --no-align advice here: `interp align` and --paste do not take it
    from .landmarks import load_shape_predictor

    predictor = load_shape_predictor(log)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"an image array must be [H, W, 3] uint8 RGB, got {image.dtype} {image.shape}")
        return predictor, image
    rgb = np.asarray(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.uint8)
    return predictor, rgb


def _face_warnings(face: Face, quad: np.ndarray, index: int, n_faces: int, name: str, output_size: int) -> list[str]:
    """One-line warnings for a face the crop may not do justice to."""
    which = f"{name}: face {index}" if n_faces > 1 else name
    notes = []
    if face.inter_ocular < MIN_INTER_OCULAR:
        notes.append(
            f"{which}: the face is small ({face.inter_ocular:.0f} px between the eyes, "
            f"{quad_side(quad):.0f} px crop upscaled to {output_size} px); the aligned image will be blurry"
        )
    left, right = face.eye_centres
    roll = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    if abs(roll) > MAX_ROLL_DEGREES:
        notes.append(f"{which}: the head is tilted by {abs(roll):.0f} degrees; landmarks and alignment may be off")
    asymmetry = _yaw_asymmetry(face.landmarks)
    if abs(asymmetry) > MAX_YAW_ASYMMETRY:
        notes.append(f"{which}: the face is turned strongly to one side; landmarks and alignment may be off")
    return notes


def _yaw_asymmetry(landmarks: np.ndarray) -> float:
    """How far the head is turned: (a - b) / (a + b), where a and b are the distances, along the
    eye line, from the nose tip to the left and right ends of the jaw (0 = frontal, +-1 = profile)."""
    eye_line = landmarks[42:48].mean(axis=0) - landmarks[36:42].mean(axis=0)
    eye_line = eye_line / (np.hypot(*eye_line) or 1.0)
    nose = landmarks[30]
    to_left = float(np.dot(nose - landmarks[0], eye_line))
    to_right = float(np.dot(landmarks[16] - nose, eye_line))
    total = to_left + to_right
    return (to_left - to_right) / total if total > 0 else 1.0
