"""Find faces and their 68 landmarks: OpenCV Haar cascade, then dlib-style box refinement.

dlib's landmark model was trained on boxes from dlib's HOG face detector, and its output moves
with the box (a 5% shift of the box moves the eyes by 1-4% of the inter-ocular distance). So
the Haar box is first mapped to where dlib's detector would put its box (a fixed offset and
scale, calibrated on the test photos), and then the box is re-derived from the landmarks
themselves, twice: the box is the image of the unit square under the similarity transform
that best maps the model's mean shape (which lives in box-normalised coordinates) onto the
current landmarks. Each landmark pass averages the predictions from nine copies of the box
shifted on a grid of steps of 4% of its size, which cancels most of the model's sensitivity
to the exact box position (and makes the result depend little on where the Haar box was).

OpenCV is imported inside the functions so that importing this module stays cheap and works
without the `align` extra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InterpError
from .landmarks import ShapePredictor, similarity_matrix

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
_DUPLICATE_IOU = 0.5


@dataclass
class Face:
    """One detected face.

    box: (left, top, right, bottom) in source pixels, the dlib-style box the landmarks came from.
    landmarks: [68, 2] float64 (x, y) in source pixels, pixel centres at integer coordinates,
        in the iBUG 300-W order dlib uses (36-41 and 42-47 are the eyes on the image's left and right).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray

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


def haar_boxes(grey: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Raw Haar (frontalface_alt2) detections in `grey` ([H, W] uint8) as (l, t, r, b) source pixels."""
    import cv2

    height, width = grey.shape
    scale = min(1.0, _DETECTION_LONG_SIDE / max(height, width))
    small = grey
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        scale_x, scale_y = size[0] / width, size[1] / height
    else:
        scale_x = scale_y = 1.0
    cascade = _haar_cascade()
    found = cascade.detectMultiScale(
        small, scaleFactor=_HAAR_SCALE_STEP, minNeighbors=3, minSize=(_HAAR_MIN_WINDOW, _HAAR_MIN_WINDOW)
    )
    return [
        (x / scale_x, y / scale_y, (x + w) / scale_x, (y + h) / scale_y)
        for x, y, w, h in np.asarray(found, dtype=np.float64).reshape(-1, 4)
    ]


def haar_to_dlib_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Where dlib's HOG detector would roughly put its box, given a Haar box (both l, t, r, b)."""
    left, top, right, bottom = box
    size = (right - left) * _HAAR_TO_DLIB_SCALE
    centre_x = (left + right) / 2
    centre_y = (top + bottom) / 2 + _HAAR_TO_DLIB_SHIFT_Y * (right - left)
    return (centre_x - size / 2, centre_y - size / 2, centre_x + size / 2, centre_y + size / 2)


def box_from_landmarks(predictor: ShapePredictor, landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """The square box (l, t, r, b) in which the model's mean shape best matches `landmarks` [68, 2].

    The mean shape is stored in box-normalised coordinates, so the similarity transform that
    maps it onto the landmarks maps the unit square onto the box the model expects; the box
    keeps that transform's scale and centre (dlib's boxes are upright).
    """
    mean_shape = predictor.initial_shape.astype(np.float64)
    transform = similarity_matrix(mean_shape, landmarks).astype(np.float64)
    size = float(np.sqrt(abs(np.linalg.det(transform))))
    centre = landmarks.mean(axis=0) + transform @ (np.array([0.5, 0.5]) - mean_shape.mean(axis=0))
    return (centre[0] - size / 2, centre[1] - size / 2, centre[0] + size / 2, centre[1] + size / 2)


def jittered_landmarks(predictor: ShapePredictor, grey: np.ndarray, box) -> np.ndarray:
    """Mean of the landmarks ([68, 2]) predicted from `box` shifted on a 3x3 grid of steps of
    `_JITTER` of its size (the unshifted box is the grid's centre)."""
    left, top, right, bottom = box
    step_x, step_y = _JITTER * (right - left), _JITTER * (bottom - top)
    boxes = [
        (left + i * step_x, top + j * step_y, right + i * step_x, bottom + j * step_y)
        for i in (-1, 0, 1)
        for j in (-1, 0, 1)
    ]
    return predictor.predict_many(grey, boxes).mean(axis=0)


def refine_face(predictor: ShapePredictor, grey: np.ndarray, box) -> Face:
    """Landmarks for the face near `box` (a dlib-style box), with the box re-fitted to them."""
    landmarks = predictor.predict(grey, box)
    for _ in range(_REFIT_ROUNDS):
        box = box_from_landmarks(predictor, landmarks)
        landmarks = jittered_landmarks(predictor, grey, box)
    return Face(box=tuple(float(v) for v in box), landmarks=landmarks)


def find_faces(predictor: ShapePredictor, grey: np.ndarray) -> list[Face]:
    """All faces in `grey` ([H, W] uint8, dlib grey), sorted left to right by box centre."""
    faces: list[Face] = []
    for raw in haar_boxes(grey):
        face = refine_face(predictor, grey, haar_to_dlib_box(raw))
        # Two Haar hits on one face converge to the same refitted box: keep the first.
        if all(_iou(face.box, other.box) < _DUPLICATE_IOU for other in faces):
            faces.append(face)
    return sorted(faces, key=lambda f: f.box[0] + f.box[2])


def _iou(a, b) -> float:
    """Intersection over union of two (l, t, r, b) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


_CASCADE = None


def _haar_cascade():
    """OpenCV's bundled frontal-face cascade, loaded once per process."""
    global _CASCADE
    if _CASCADE is None:
        import cv2

        path = cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml"
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise InterpError(
                f"OpenCV could not load its face cascade {path}: reinstall with pip install 'interp-cli[align]' "
                "(or pass --no-align for images that are already aligned crops)"
            )
        _CASCADE = cascade
    return _CASCADE
