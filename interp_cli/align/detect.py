"""Find faces and their 68 landmarks: detector candidates, a turned-box landmark fit, verification.

Candidates come from dlib's HOG detector (`dlib-bin`) or OpenCV's Haar cascade, each run on the
photo and on copies turned by a few angles, so a tilted face is seen near upright in one of them;
each candidate carries a box and a first guess of the face's tilt.

dlib's landmark model was trained on boxes from dlib's HOG face detector, and its output moves
with the box (a 5% shift of the box moves the eyes by 1-4% of the inter-ocular distance). So
a Haar box is first mapped to where dlib's detector would put its box (a fixed offset and
scale, calibrated on the test photos), and then the box is re-derived from the landmarks
themselves, twice: the box is the image of the unit square under the similarity transform
that best maps the model's mean shape (which lives in box-normalised coordinates) onto the
current landmarks, and that transform's rotation is the face's tilt, by which the box is turned
for the next pass (the model only knows upright faces). Each landmark pass averages the
predictions from nine copies of the box shifted on a grid of steps of 4% of its size, which
cancels most of the model's sensitivity to the exact box position; how far those nine
predictions disagree tells a face from a face-like patch of background.

OpenCV and dlib are imported inside the functions so that importing this module stays cheap and
works without the `align` extra.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import InterpError
from ..cache_folders import cache_dir
from ..files import atomic_write
from ..stops import deferred
from .landmarks import INSTALL_ALIGN, ShapePredictor, similarity_matrix
from .cv import opencv

# Haar alt2 box -> dlib HOG box, measured on the test photos (tests/data/faces): dlib's box is
# centred 7% of the Haar width lower and is 10% smaller. Only a starting point for the refit.
_HAAR_TO_DLIB_SHIFT_Y = 0.07
_HAAR_TO_DLIB_SCALE = 1 / 1.10
# The cascade runs on a copy whose long side is at most this, so the smallest face found is
# about 20/512 = 4% of the image's long side (40 px in a 1000 px photo, dlib's own limit).
_DETECTION_LONG_SIDE = 512
_HAAR_MIN_WINDOW = 20
# Scale step of the cascade's search; the box refit makes the coarser step (vs OpenCV's usual
# 1.1) cost no landmark accuracy, and it saves a quarter of the detection time.
_HAAR_SCALE_STEP = 1.15
_REFIT_ROUNDS = 2
_JITTER = 0.04  # grid step, as a fraction of the box size, of the averaged landmark passes
# Faces tilted less than this (degrees) get upright boxes, as in dlib's training data.
_UPRIGHT_WITHIN = 10.0
# Turned copies the Haar cascade also searches (degrees); it finds faces within about 15 degrees of upright.
_HAAR_ANGLES = (0.0, 30.0, -30.0)
# dlib's HOG detector runs on a copy with this long side (its window is 80 px, so faces down to
# 8% of the long side), enlarged at most this much for small photos.
_HOG_LONG_SIDE = 1000
_HOG_MAX_UPSCALE = 2.0
_HOG_THRESHOLD = 0.0
_HOG_ANGLES = (0.0, 35.0, -35.0)
# dlib's frontal detector: filters 0-2 frontal and turned faces, 3 and 4 faces tilted
# counter-clockwise and clockwise on screen (angles of the eye line, y down).
_HOG_FILTER_ANGLE = {3: -25.0, 4: 25.0}
# Verification (see find_faces): the largest landmark spread of a face, and how many Haar windows
# must find a face turned upright in a patch of _VERIFY_PATCH px.
_MAX_SPREAD = 0.016
_HAAR_VERIFY_HITS = 25
_VERIFY_CASCADE = "haarcascade_frontalface_alt.xml"
_VERIFY_PATCH = 160
# find_faces' second search, for small faces in a big photo: the cascade again, on a
# copy in which a face of _FINE_FACE source px (a Haar box;
# dlib's box is a tenth smaller, 40 px between the eyes, where align's "small face" warning
# starts) fills the cascade's window, its long side at most _FINE_LONG_SIDE (bounded time and
# memory: a photo with a long side over 20480 px, 280 MP at 3:2, has its smallest face found grow
# with it).
_FINE_FACE = 100
_FINE_LONG_SIDE = 4096
# The second search's turned copies (degrees), searched after the upright copy: the cascade sees
# faces within about 15 degrees of upright, so these reach faces tilted up to about 45 degrees.
_FINE_ANGLES = tuple(angle for angle in _HAAR_ANGLES if angle)
# find_faces' second search in a mid-size photo, one where HOG's copy (_HOG_LONG_SIDE) makes a face of
# _FINE_FACE px smaller than HOG's _HOG_WINDOW (a long side over 1250 px) and the fine search does not run
# (up to 2560 px): the first search's cascade still sees such faces, but on its upright copy only, so a small
# head tilted beyond 15 degrees was missed. There the cascade searches a copy turned by _MID_ANGLES (HOG's, which
# it stands in for at these sizes: with the cascade's 15 degrees either way they reach 20-50 degrees), and
# upright too where that copy is finer than the first search's: a copy in which a face of _FINE_FACE px is
# _MID_FACE_WINDOW px wide, twice the cascade's smallest window, where it finds small faces far more often
# (benchmarks/bench_tilted_faces.py at 1600, 2048 and 2400 px, 150 faces of 100 and 125 px tilted 0-45 degrees:
# 150 found at 40 px, 139 at 30 px; 101 without the second search). Its cost is the copy's area: about 0.4 s
# CPU at 1600 px, 1 s at 2400 px (benchmarks/README.md).
_HOG_WINDOW = 80
_MID_FACE_WINDOW = 40
_MID_ANGLES = tuple(angle for angle in _HOG_ANGLES if angle)
# The fine search's last turned copies, searched after the others: a face tilted 45 degrees is 15 degrees from
# the +-30 degree copies, at the edge of what the cascade sees. (+-35 degrees alone, as in the mid-size search,
# would find the faces the +-30 degree copies find with fits that differ.)
_WIDE_ANGLES = (45.0, -45.0)


@dataclass
class Face:
    """One detected face.

    box: (left, top, right, bottom) in source pixels, the dlib-style box the landmarks came from,
        before it is turned by `angle`.
    landmarks: [68, 2] float64 (x, y) in source pixels, pixel centres at integer coordinates,
        in the iBUG 300-W order dlib uses (36-41 and 42-47 are the eyes on the image's left and right).
    angle: degrees the box is turned about its centre, the face's tilt (positive: clockwise on screen).
    score: the detector's confidence (HOG score, or Haar's number of overlapping windows).
    spread: how much the landmarks move when the box does (see `jittered_landmarks`).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    angle: float = 0.0
    score: float = 0.0
    spread: float = 0.0

    @property
    def eye_centres(self) -> np.ndarray:
        """[2, 2]: the mean of each eye's six points, image-left eye first."""
        return np.stack([self.landmarks[36:42].mean(axis=0), self.landmarks[42:48].mean(axis=0)])

    @property
    def inter_ocular(self) -> float:
        """Distance between the two eye centres, in source pixels."""
        left, right = self.eye_centres
        return float(np.hypot(*(right - left)))


def dlib_grey(rgb: np.ndarray) -> np.ndarray:
    """The grey image dlib's landmark model reads: (R + G + B) // 3 of an [H, W, 3] uint8 array -> [H, W] uint8."""
    total = rgb[..., 0].astype(np.uint16)
    total += rgb[..., 1]
    total += rgb[..., 2]
    return (total // 3).astype(np.uint8)


def _detection_copy(grey: np.ndarray, long_side: int = _DETECTION_LONG_SIDE) -> tuple[np.ndarray, float, float]:
    """`grey` shrunk so its long side is at most `long_side`, and the x and y scales."""
    cv2 = opencv()

    height, width = grey.shape
    if max(height, width) <= long_side:
        return grey, 1.0, 1.0
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA), size[0] / width, size[1] / height


def _haar_hits(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cascade's detections in `image`: [N, 4] float64 (x, y, w, h) and how many windows
    each one merges (its confidence)."""
    found, counts = _haar_cascade().detectMultiScale2(
        image, scaleFactor=_HAAR_SCALE_STEP, minNeighbors=3, minSize=(_HAAR_MIN_WINDOW, _HAAR_MIN_WINDOW)
    )
    return np.asarray(found, dtype=np.float64).reshape(-1, 4), np.asarray(counts, dtype=np.float64).reshape(-1)


def haar_to_dlib_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Where dlib's HOG detector would roughly put its box, given a Haar box (both l, t, r, b)."""
    left, top, right, bottom = box
    size = (right - left) * _HAAR_TO_DLIB_SCALE
    centre_x = (left + right) / 2
    centre_y = (top + bottom) / 2 + _HAAR_TO_DLIB_SHIFT_Y * (right - left)
    return (centre_x - size / 2, centre_y - size / 2, centre_x + size / 2, centre_y + size / 2)


def box_from_landmarks(predictor: ShapePredictor, landmarks: np.ndarray) -> tuple[tuple, float]:
    """The square box (l, t, r, b), turned by an angle in degrees about its centre, in which the
    model's mean shape best matches `landmarks` [68, 2]: (box, angle).

    The mean shape is stored in box-normalised coordinates, so the similarity transform that
    maps it onto the landmarks maps the unit square onto the box the model expects: the box
    takes that transform's scale and centre, and its rotation is how far the face is tilted.
    """
    mean_shape = predictor.initial_shape.astype(np.float64)
    transform = similarity_matrix(mean_shape, landmarks).astype(np.float64)
    size = float(np.sqrt(abs(np.linalg.det(transform))))
    centre = landmarks.mean(axis=0) + transform @ (np.array([0.5, 0.5]) - mean_shape.mean(axis=0))
    angle = math.degrees(math.atan2(transform[1, 0], transform[0, 0]))
    box = (centre[0] - size / 2, centre[1] - size / 2, centre[0] + size / 2, centre[1] + size / 2)
    return tuple(float(v) for v in box), angle


def jittered_landmarks(predictor: ShapePredictor, grey: np.ndarray, box, angle: float = 0.0) -> tuple:
    """Landmarks predicted from `box` (turned by `angle` degrees) shifted along its own axes on a
    3x3 grid of steps of `_JITTER` of its size (the unshifted box is the grid's centre):
    (their mean [68, 2], their spread).

    The spread is the RMS distance of the nine predictions from their mean, as a fraction of the
    box size. On a face the cascade converges to the same points from each box (under 1.1% on
    the test photos, tilted, blurred or dark); on a face-like patch of background or a face
    seen at the wrong angle, it follows the box around (over 2%).
    """
    left, top, right, bottom = box
    radians = math.radians(angle)
    axis_x = np.array([math.cos(radians), math.sin(radians)]) * _JITTER * (right - left)
    axis_y = np.array([-math.sin(radians), math.cos(radians)]) * _JITTER * (bottom - top)
    boxes = []
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            dx, dy = i * axis_x + j * axis_y
            boxes.append((left + dx, top + dy, right + dx, bottom + dy))
    predictions = predictor.predict_many(grey, boxes, [angle] * len(boxes))
    mean = predictions.mean(axis=0)
    spread = float(np.sqrt(((predictions - mean) ** 2).sum(axis=-1).mean())) / (right - left)
    return mean, spread


def refine_face(predictor: ShapePredictor, grey: np.ndarray, box, angle: float = 0.0) -> Face:
    """Landmarks for the face near `box` (a dlib-style box turned by `angle` degrees), with the
    box and its angle re-fitted to them."""
    landmarks = predictor.predict(grey, box, angle)
    for _ in range(_REFIT_ROUNDS):
        box, angle = box_from_landmarks(predictor, landmarks)
        # The model was trained on upright boxes around faces tilted as people hold their heads;
        # turning the box only pays off beyond that.
        if abs(angle) < _UPRIGHT_WITHIN:
            angle = 0.0
        landmarks, spread = jittered_landmarks(predictor, grey, box, angle)
    return Face(box=box, landmarks=landmarks, angle=angle, spread=spread)


def steady_face(predictor: ShapePredictor, grey: np.ndarray, box, angle: float = 0.0) -> Face | None:
    """The face at `box` (turned by `angle`) without searching for it: one pass of `jittered_landmarks`,
    kept only when steady, as `find_faces` keeps a fit; else None. For an image drawn in the frame
    of one whose face is known (a reconstruction of an aligned crop), at a third of `refine_face`'s cost."""
    landmarks, spread = jittered_landmarks(predictor, grey, box, angle)
    return Face(box=box, landmarks=landmarks, angle=angle, spread=spread) if spread <= _MAX_SPREAD else None


def upright_patch(grey: np.ndarray, box, angle: float, side: int) -> np.ndarray:
    """A [side, side] uint8 copy of the square twice the size of `box`, turned by `angle` so that
    the box is upright in it and centred (it then spans the middle half of the patch)."""
    cv2 = opencv()

    left, top, right, bottom = box
    zoom = side / (2.0 * (right - left))
    radians = math.radians(angle)
    rotation = np.array([[math.cos(radians), math.sin(radians)], [-math.sin(radians), math.cos(radians)]]) * zoom
    centre = np.array([(left + right) / 2, (top + bottom) / 2])
    matrix = np.hstack([rotation, ((side - 1) / 2 - rotation @ centre)[:, None]])
    return cv2.warpAffine(grey, matrix, (side, side), flags=cv2.INTER_LINEAR, borderValue=0)


def haar_agrees(grey: np.ndarray, face: Face) -> bool:
    """Whether a second cascade (OpenCV's frontalface_alt, trained apart from the alt2 cascade that
    proposes candidates), run at fine steps on the face turned upright, finds it where its
    landmarks say it is, in at least `_HAAR_VERIFY_HITS` overlapping windows. On the test photos
    and their tilted, shrunk, blurred and dark copies a face gets 44 or more, and each face-like
    patch of background that alt2 proposed 13 or fewer."""
    side = _VERIFY_PATCH
    patch = upright_patch(grey, face.box, face.angle, side)
    # The box spans half the patch; the Haar box of that face is ~10% larger and 7% higher.
    expected = side / 2 / _HAAR_TO_DLIB_SCALE
    found = _haar_cascade(_VERIFY_CASCADE).detectMultiScale(
        patch,
        scaleFactor=1.05,
        minNeighbors=0,
        minSize=(round(expected * 0.7),) * 2,
        maxSize=(round(expected * 1.4),) * 2,
    )
    hits = 0
    for x, y, w, _ in np.asarray(found, dtype=np.float64).reshape(-1, 4):
        centre_x, centre_y = x + w / 2, y + w / 2 + _HAAR_TO_DLIB_SHIFT_Y * w
        if max(abs(centre_x - side / 2), abs(centre_y - side / 2)) < 0.15 * side / 2:
            hits += 1
    return hits >= _HAAR_VERIFY_HITS


@dataclass
class Candidate:
    """Where a detector saw a face: a dlib-style box (l, t, r, b) in source pixels, turned by
    `angle` degrees about its centre, and the detector's score (higher is surer)."""

    box: tuple[float, float, float, float]
    angle: float
    score: float


def hog_candidates(grey: np.ndarray, angles=None) -> list[Candidate]:
    """dlib's HOG face detector (the `dlib-bin` wheel) on `grey` and on copies turned by each of
    `angles` (degrees; default `_HOG_ANGLES`), all resized so the long side of `grey` is
    `_HOG_LONG_SIDE`. Its five filters cover frontal faces, faces turned left or right, and faces
    tilted either way by up to about 35 degrees; the tilted filters give the angle's sign."""
    cv2 = opencv()

    angles = list(_HOG_ANGLES if angles is None else angles)
    height, width = grey.shape
    scale = min(_HOG_MAX_UPSCALE, _HOG_LONG_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    scale_x, scale_y = size[0] / width, size[1] / height

    def scan(angle: float, detector) -> tuple:
        turned, to_turned = _turned(small, angle)
        return (to_turned, *detector.run(turned, 0, _HOG_THRESHOLD))

    # The angles are scanned side by side: dlib releases the GIL while it scans (each scan of a
    # 1000 px photo takes 0.1 s, three quarters of an alignment), and each scan needs a detector of
    # its own, since a detector keeps the image it is scanning.
    with _HOG_LOCK:
        detectors = _hog_detectors(len(angles))
        if len(angles) > 1 and (os.cpu_count() or 1) > 1:
            with ThreadPoolExecutor(len(angles), thread_name_prefix="interp-hog") as pool:
                # Every worker started and known to the pool before a stop acts: one whose `start()` a stop landed
                # in (a Python caller's SIGTERM handler's) was not, so the pool's shutdown never waited for it, and
                # it scanned on with a detector the caller's next search took (as render.render_ahead's thread).
                with deferred():
                    pending = [pool.submit(scan, angle, detector) for angle, detector in zip(angles, detectors)]
                scans = [future.result() for future in pending]
        else:
            scans = [scan(angle, detector) for angle, detector in zip(angles, detectors)]
    found = []
    for angle, (to_turned, rects, scores, kinds) in zip(angles, scans):
        for rect, score, kind in zip(rects, scores, kinds):
            centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
            centre = np.linalg.solve(to_turned[:, :2], centre - to_turned[:, 2])
            centre = (centre + 0.5) / [scale_x, scale_y] - 0.5
            half = (rect.right() - rect.left()) / scale_x / 2
            box = (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
            found.append(Candidate(box, angle + _HOG_FILTER_ANGLE.get(int(kind), 0.0), float(score)))
    return found


def haar_candidates(grey: np.ndarray, angles=None, long_side: int = _DETECTION_LONG_SIDE) -> list[Candidate]:
    """The Haar cascade on `grey` and on copies of it turned by each of `angles` (degrees; default
    `_HAAR_ANGLES`), so that tilted faces are seen upright in one of them, all shrunk so the long
    side is at most `long_side`."""
    small, scale_x, scale_y = _detection_copy(grey, long_side)
    found = []
    for angle in _HAAR_ANGLES if angles is None else angles:
        turned, to_turned = _turned(small, angle)
        boxes, counts = _haar_hits(turned)
        for (x, y, w, _), count in zip(boxes, counts):
            # The box's centre back in `small`, then in `grey` (pixel centres scale about edges).
            centre = np.linalg.solve(to_turned[:, :2], np.array([x + w / 2, y + w / 2]) - to_turned[:, 2])
            centre = (centre + 0.5) / [scale_x, scale_y] - 0.5
            half = w / scale_x / 2
            box = haar_to_dlib_box((centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half))
            found.append(Candidate(box, float(angle), float(count)))
    return found


def _turned(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """`image` turned by `angle` degrees (positive: counter-clockwise on screen, so a face tilted
    clockwise by that angle comes out upright) onto a canvas that holds all of it, and the
    [2, 3] affine matrix from `image`'s pixel positions to the copy's."""
    cv2 = opencv()

    if angle == 0:
        return image, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    height, width = image.shape
    radians = math.radians(angle)
    cos, sin = math.cos(radians), math.sin(radians)
    new_width = math.ceil(width * abs(cos) + height * abs(sin))
    new_height = math.ceil(width * abs(sin) + height * abs(cos))
    rotation = np.array([[cos, sin], [-sin, cos]])
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    new_centre = np.array([(new_width - 1) / 2, (new_height - 1) / 2])
    matrix = np.hstack([rotation, (new_centre - rotation @ centre)[:, None]])
    turned = cv2.warpAffine(image, matrix, (new_width, new_height), flags=cv2.INTER_LINEAR, borderValue=0)
    return turned, matrix


def detector_names() -> list[str]:
    """The face detectors usable here, best first: "dlib" (HOG, needs the `dlib-bin` wheel) and "haar"."""
    names = ["haar"]
    if importlib.util.find_spec("dlib") is not None:
        try:
            _hog_detector()
            names.insert(0, "dlib")
        except (ImportError, AttributeError):
            pass
    return names


def find_faces(predictor: ShapePredictor, grey: np.ndarray, detector: str | None = None, *,
               upright_first: bool = False) -> list[Face]:
    """All faces in `grey` ([H, W] uint8, dlib grey), sorted left to right by box centre.

    detector: "dlib" (HOG at three angles, then the upright Haar cascade for faces too small for
    HOG) or "haar" (Haar at three angles), see `detector_names`; None takes the best one installed.
    Each candidate is fitted (landmarks, box and tilt) and kept only when the fit is steady
    (`jittered_landmarks`' spread) and, for a Haar candidate, when the face turned upright is
    found again (`haar_agrees`). A candidate on a face already kept is not fitted again.
    `upright_first` (dlib only): the faces upright HOG alone finds, when it finds any; the turned
    copies and the cascade, most of the cost, only when it finds none (for an aligned crop, whose
    face is upright and large: `interp_cli.identity`).
    In a big photo the cascade then searches again at a higher resolution (`fine_long_side`),
    for faces down to about `_FINE_FACE` px that the first search, on a copy of at most 1000 px (HOG)
    or 512 px (Haar), is too coarse to see: small faces in a group or full-body photo. It searches
    the upright copy, then copies turned by `_FINE_ANGLES` for heads tilted beyond 15 degrees (about twice
    the upright copy's time), then by `_WIDE_ANGLES` for heads tilted about 45 degrees (as much again); a
    face found by an earlier copy is not fitted again from a later one. In a mid-size photo, where HOG's
    copy is too coarse for tilted faces of `_FINE_FACE` px and the first cascade looked upright only, the
    second search turns a finer copy by `_MID_ANGLES` (`second_search`). The faces
    are numbered left to right among all those found, so a face's number does not depend on why
    the search was made, and the count and number `align_face` reports for the default pick (the
    largest) are those `face=` takes.
    """
    detector = detector or detector_names()[0]
    if detector == "dlib" and upright_first:
        faces = _fitted(predictor, grey, sorted(hog_candidates(grey, (0.0,)), key=lambda c: -c.score), [])
        if faces:
            return faces
    if detector == "dlib":
        # The upright cascade too: it sees faces down to 4% of the long side, HOG's window 6-8%.
        hog = sorted(hog_candidates(grey), key=lambda c: -c.score)
        haar = sorted(haar_candidates(grey, (0.0,)), key=lambda c: -c.score)
    elif detector == "haar":
        hog, haar = [], sorted(haar_candidates(grey), key=lambda c: -c.score)
    else:
        raise ValueError(f"unknown face detector {detector!r}; known: dlib, haar")
    faces = _fitted(predictor, grey, hog, haar)
    search = second_search(grey.shape)
    if search:
        # One shrunk copy for all angles (shrinking a 60 MP photo is a tenth of a second); each group of
        # angles is fitted after the one before, so a face an earlier group finds keeps the fit it had
        # without the later ones (a later copy's candidate on it is passed over).
        long_side, groups = search
        candidates = sorted(haar_candidates(grey, [a for group in groups for a in group], long_side),
                            key=lambda c: -c.score)
        for group in groups:
            faces = _fitted(predictor, grey, [], [c for c in candidates if c.angle in group], faces)
    return faces


def second_search(shape: tuple[int, ...]) -> tuple[int, tuple[tuple[float, ...], ...]] | None:
    """`find_faces`' second search in a photo of `shape` (H, W), after the first: the long side of the
    cascade's copy and the groups of angles it is turned by, in the order they are fitted; None where the
    first search already sees faces of `_FINE_FACE` px at every tilt."""
    fine = fine_long_side(shape)
    if fine:
        return fine, ((0.0,), _FINE_ANGLES, _WIDE_ANGLES)
    long_side = max(shape[:2])
    if _FINE_FACE * _HOG_LONG_SIDE / long_side >= _HOG_WINDOW:
        return None
    copy = max(_DETECTION_LONG_SIDE, round(long_side * _MID_FACE_WINDOW / _FINE_FACE))
    # The upright copy again only where it is finer than the first search's (which saw the same faces); the
    # "haar" first search turned its copy by _HAAR_ANGLES already, but coarser.
    upright = ((0.0,),) if copy > _DETECTION_LONG_SIDE else ()
    return copy, (*upright, _MID_ANGLES)


def fine_long_side(shape: tuple[int, ...]) -> int | None:
    """The long side of `find_faces`' second, finer search in a photo of `shape` (H, W), or None
    where the first search already saw faces of `_FINE_FACE` px."""
    long_side = min(_FINE_LONG_SIDE, round(max(shape[:2]) * _HAAR_MIN_WINDOW / _FINE_FACE))
    return long_side if long_side > _DETECTION_LONG_SIDE else None


def _fitted(predictor: ShapePredictor, grey: np.ndarray, hog: list[Candidate], haar: list[Candidate],
            faces: tuple[Face, ...] | list[Face] = ()) -> list[Face]:
    """`find_faces`' fitting and checks of HOG then Haar candidates (each list best first), added
    to `faces` already found."""
    faces = list(faces)
    for candidate, from_haar in [(c, False) for c in hog] + [(c, True) for c in haar]:
        if any(_same_place(candidate.box, face.box) for face in faces):
            continue
        face = refine_face(predictor, grey, candidate.box, candidate.angle)
        face.score = candidate.score
        if face.spread > _MAX_SPREAD or (from_haar and not haar_agrees(grey, face)):
            continue
        if not any(_same_place(face.box, other.box) for other in faces):
            faces.append(face)
    return sorted(faces, key=lambda f: f.box[0] + f.box[2])


def _same_place(a, b) -> bool:
    """Whether two boxes (l, t, r, b), turned or not, sit on the same face: centres closer than
    half the smaller box's size and sizes within a factor of 1.5."""
    size_a, size_b = a[2] - a[0], b[2] - b[0]
    distance = math.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
    return distance < 0.5 * min(size_a, size_b) and max(size_a, size_b) < 1.5 * min(size_a, size_b)


_CASCADES: dict = {}


def _haar_cascade(name: str = "haarcascade_frontalface_alt2.xml"):
    """One of OpenCV's bundled cascades, loaded once per process."""
    if name not in _CASCADES:
        cv2 = opencv()

        path = cv2.data.haarcascades + name
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise InterpError(
                f"OpenCV could not load its face cascade {path}: reinstall it: {INSTALL_ALIGN}"
            )
        _CASCADES[name] = cascade
    return _CASCADES[name]


_HOG: list = []  # dlib's frontal face detectors, one per scan that runs at once
_HOG_LOCK = threading.Lock()  # one hog_candidates call at a time uses them


def _hog_detectors(count: int) -> list:
    """`count` of dlib's frontal face detectors, made as first needed, then kept for the process."""
    if not _HOG:
        _HOG.append(_frontal_detector())
    while len(_HOG) < count:
        # A copy through dlib's own serialization of the detector just built, in memory (1.5 ms).
        _HOG.append(pickle.loads(pickle.dumps(_HOG[0])))
    return _HOG[:count]


def _hog_detector():
    """dlib's frontal face detector, made once per process."""
    return _hog_detectors(1)[0]


def _frontal_detector():
    """dlib's frontal face detector, read back from interp's align cache where an earlier run left it.

    Building it takes 0.3 s, dlib decoding the model it embeds: half the CPU time of aligning one photo.
    dlib's own serialization of it (150 KB, what `fhog_object_detector(path)` reads: no pickle) reads back
    in about 1 ms. An entry is named by dlib's version and its content's sha256, and is used only when
    its bytes still match that name: a damaged one is passed over, and the next write (the same name)
    replaces it. A cache that cannot be written costs each run the build, nothing else.
    """
    import dlib

    folder = cache_dir("align")
    stem = f"frontal_face_detector-dlib{getattr(dlib, '__version__', 'unknown')}"
    for entry in sorted(folder.glob(f"{stem}-*.svm")):
        try:
            if _digest(entry.read_bytes()) == entry.stem.rsplit("-", 1)[1]:
                return dlib.fhog_object_detector(str(entry))
        except (OSError, RuntimeError):  # unreadable, or dlib refuses it (RuntimeError): build it instead
            continue
    detector = dlib.get_frontal_face_detector()
    try:
        data = detector.__getstate__()[0]  # the bytes dlib's pickling (and its .save) writes
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / f"{stem}-{_digest(data)}.svm") as out:
            out.write(data)
    except (OSError, InterpError, AttributeError, TypeError, IndexError):  # no such state in this dlib, or no room
        pass
    return detector


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]

