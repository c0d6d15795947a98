"""Put the morph back into the photo: each rendered face is warped onto the face it was aligned from.

    paster = Paster(photo, quad, landmarks, face_size=1024)   # once per run
    for face in rendered:                                      # [G, G, 3] uint8 generator frames
        frame = paster.paste(face)                             # [H, W, 3] uint8: the photo, face replaced

Geometry. `quad` is the FFHQ crop the encoder saw (see `interp_cli.align.ffhq`). A generator
frame covers exactly that square whatever its resolution G, so one affine map
(`source_to_aligned_matrix`) takes every photo pixel to the point of the frame it shows, and
the frame is resampled once, bicubically, straight into photo coordinates. Where the face in
the photo is smaller than G pixels (a downscale by D > 1), the frame is first low-passed with
a Gaussian of sigma (D - 1) / 2 generator pixels (scikit-image's antialiasing rule), so fine
detail does not alias into moire: on the repo photo (1024 px frame into a 420 px face), a
near-Nyquist stripe pattern comes out with a standard deviation of 10.7 levels instead of 61,
while the round trip (the crop pasted back, tests/test_paste.py) rises from 0.11 to 1.1
levels; k x k bilinear supersampling, what the crop uses, blurred more (1.35). Measurements
in benchmarks/README.md.
`width` scales the photo (Lanczos, once) and the geometry with it, so a smaller written frame
still costs one resampling of the face.

Mask. The face region is the convex hull of the jaw line (landmarks 0-16) and the brows
(17-26) raised by `FOREHEAD` times the brow-to-nose distance to take in the forehead,
intersected with the crop. It is eroded by w = sqrt(area) / 20 px and blurred with a Gaussian
of sigma w / 3 (facexlib's `paste_faces_to_input_image` erodes and feathers in the same
proportion), so the face fades into the photo over about 2w px and is exactly zero at the
region's edge: every pixel outside it is the photo's own, bit for bit.

Colour. The generator's face rarely has the photo's exact colour balance (lighting, white
balance, the encoder's own colour error), and a constant cast shows up as an edge along the
seam. With `match_colour` every face is shifted, per channel, by the mean difference between
the photo and the face over the seam ring (0 < alpha < 1), the whole face alike so no second
edge appears inside it. It lowered the mean |face - photo| over the ring on the demo model's
morphs of the repo photos (22.9/44.0/35.4/36.4 to 20.3/43.6/32.2/31.8 levels), on swaps of
their real 1024 crops (50.9 to 45.3, 17 of 18 pairs lower) and on the round trip with a
(+12, -6, +9) cast added to the crop (9.0 to 1.1); see benchmarks/README.md.
A black-and-white photo (every pixel grey, as a grey or 16-bit grey file is read) gets a grey face,
its luma (ITU-R 601, as Pillow's "L" weighs it): no shift of the channels' means takes a rendering's
colour out, and a morph towards a colour photo pasted a coloured face into it.

Cost. The mask is built once, on the face's bounding box; each frame warps and blends only that
box, and the rest of the photo is one copy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .align.ffhq import quad_side, source_to_aligned_matrix
from .errors import InterpError
from .align.cv import opencv

FOREHEAD = 0.9  # brow lift, in brow-to-nose-base distances: roughly the forehead, not the hair
FEATHER = 1 / 20  # erosion w = FEATHER * sqrt(face area); Gaussian sigma = w / 3
_ALPHA_EPS = 1 / 1024  # below this a mask value is 0, above 1 - this it is 1 (under half a level)


class FaceTooSmallError(InterpError):
    """The face, at the width asked for, leaves nothing once its mask is feathered (see `smallest_width`)."""


def face_polygon(landmarks: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The face region for 68 landmarks: jaw line plus raised brows, convex hull, [K, 2] float64.

    "Up" is the crop's up direction (the quad's left side, bottom to top), so a tilted head
    gets its forehead along its own axis.
    """
    cv2 = opencv()

    points = np.asarray(landmarks, dtype=np.float64)
    quad = np.asarray(quad, dtype=np.float64)
    up = quad[0] - quad[1]
    up /= np.hypot(*up)
    brows = points[17:27]
    lift = FOREHEAD * float(np.hypot(*(points[33] - brows.mean(axis=0))))
    outline = np.concatenate([points[0:17], brows[::-1] + up * lift])
    return cv2.convexHull(outline.astype(np.float32))[:, 0, :].astype(np.float64)


def _fill(shape: tuple[int, int], polygon: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """A uint8 {0, 1} mask of `polygon` (pixel centres at integers) in a box at `origin` (x, y)."""
    cv2 = opencv()

    mask = np.zeros(shape, np.uint8)
    fixed = np.rint((np.asarray(polygon) - origin) * 16).astype(np.int32)  # 4 fractional bits
    cv2.fillPoly(mask, [fixed], 1, lineType=cv2.LINE_8, shift=4)
    return mask


@dataclass
class FaceMask:
    """The feathered face mask: `alpha` (float32 [y1 - y0, x1 - x0], in [0, 1]) over `box`
    (x0, y0, x1, y1), the smallest box holding every non-zero value; `feather`, the erosion
    width w in px."""

    box: tuple[int, int, int, int]
    alpha: np.ndarray
    feather: float


def feather_mask(shape: tuple[int, int], polygon: np.ndarray, quad: np.ndarray) -> FaceMask:
    """The feathered face mask in an image of `shape` (height, width) for a face region polygon
    ([K, 2] pixels) cut to the crop `quad`. Raises InterpError if the region does not reach into
    the image.
    """
    cv2 = opencv()

    height, width = shape
    polygon = np.asarray(polygon, dtype=np.float64)
    x0 = max(int(math.floor(polygon[:, 0].min())) - 1, 0)
    y0 = max(int(math.floor(polygon[:, 1].min())) - 1, 0)
    x1 = min(int(math.ceil(polygon[:, 0].max())) + 2, width)
    y1 = min(int(math.ceil(polygon[:, 1].max())) + 2, height)
    if x1 <= x0 or y1 <= y0:
        raise InterpError("the face to paste onto lies outside the photo")
    box_shape = (y1 - y0, x1 - x0)
    region = _fill(box_shape, polygon, (x0, y0)) & _fill(box_shape, quad, (x0, y0))
    area = int(region.sum())
    if area == 0:
        raise InterpError("the face to paste onto lies outside the photo")
    erode = max(FEATHER * math.sqrt(area), 1.5)
    # Distance to the region's edge; pixels past the box (the photo's border) count as inside,
    # so a face cut by the border is not faded along the cut.
    distance = cv2.distanceTransform(region, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    core = (distance > erode).astype(np.float32)
    alpha = cv2.GaussianBlur(core, (0, 0), sigmaX=erode / 3, sigmaY=erode / 3, borderType=cv2.BORDER_REPLICATE)
    alpha[region == 0] = 0.0
    alpha[alpha < _ALPHA_EPS] = 0.0
    alpha[alpha > 1 - _ALPHA_EPS] = 1.0
    rows, cols = np.nonzero(alpha.any(axis=1))[0], np.nonzero(alpha.any(axis=0))[0]
    if rows.size == 0:
        raise FaceTooSmallError("the face to paste onto is too small to paste")
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box = (x0 + int(left), y0 + int(top), x0 + int(right), y0 + int(bottom))
    return FaceMask(box, np.ascontiguousarray(alpha[top:bottom, left:right]), erode)


def pasted_size(photo: tuple[int, int], width: int | None) -> tuple[int, int]:
    """(width, height) of the frames pasted into a photo of size `photo` (width, height) written `width` px wide
    (None: the photo's own): the height keeps the aspect ratio. Known from the photo's header, before any work."""
    if width is None:
        return photo
    return width, max(1, round(photo[1] * width / photo[0]))


def _scaled(shape: tuple[int, int], quad: np.ndarray, landmarks: np.ndarray, width: int | None):
    """(new (height, width), quad, landmarks) of a photo of `shape` scaled to `width` as `Paster` scales it."""
    height, old_width = shape
    quad = np.asarray(quad, dtype=np.float64)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if width is None or width == old_width:
        return (height, old_width), quad, landmarks
    new_height = pasted_size((old_width, height), width)[1]
    scale = np.array([width / old_width, new_height / height])
    # Pixel centres sit at integers: scale about the pixel edges.
    return (new_height, width), (quad + 0.5) * scale - 0.5, (landmarks + 0.5) * scale - 0.5


def smallest_width(shape: tuple[int, int], quad: np.ndarray, landmarks: np.ndarray, limit: int = 4096) -> int | None:
    """The smallest written width (up to `limit`) at which the face in a photo of `shape` (height,
    width) still has a mask to paste through, None if even `limit` is too small. Only the mask is
    built at each width tried (no resampling of the photo), so this costs milliseconds."""

    def fits(width: int) -> bool:
        new_shape, q, marks = _scaled(shape, quad, landmarks, width)
        try:
            feather_mask(new_shape, face_polygon(marks, q), q)
        except InterpError:
            return False
        return True

    if not fits(limit):
        return None
    low, high = 1, limit  # fits(high); a width this small that fits is found by halving
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    return high


def _is_grey(photo: np.ndarray) -> bool:
    """Whether every pixel of an [H, W, 3] photo has R = G = B (a black-and-white photo, read as RGB)."""
    return bool(np.array_equal(photo[..., 0], photo[..., 1]) and np.array_equal(photo[..., 1], photo[..., 2]))


class Paster:
    """Composites generator frames into one photo (see the module docstring).

    photo: [H, W, 3] uint8, upright. quad: [4, 2] the FFHQ crop in the photo's pixels and
    landmarks: [68, 2] the face's landmarks there (`interp_cli.align.AlignedFace` has both).
    face_size: the generator's resolution (the frames pasted must be face_size x face_size).
    width: the written width (None: the photo's); the height keeps the aspect ratio.
    match_colour: shift each face's colour to the photo's along the seam, and take it out for a
    black-and-white photo (see the module docstring).
    """

    def __init__(self, photo: np.ndarray, quad: np.ndarray, landmarks: np.ndarray, *, face_size: int,
                 width: int | None = None, match_colour: bool = True):
        photo = np.asarray(photo)
        if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
            raise ValueError(f"the photo must be [H, W, 3] uint8, got {photo.dtype} {photo.shape}")
        (new_height, new_width), quad, landmarks = _scaled(photo.shape[:2], quad, landmarks, width)
        if new_width != photo.shape[1]:
            from PIL import Image

            photo = np.asarray(Image.fromarray(photo).resize((new_width, new_height), Image.Resampling.LANCZOS))
        self.photo = np.ascontiguousarray(photo)
        self.face_size = int(face_size)
        self.quad = quad
        self.polygon = face_polygon(landmarks, quad)
        mask = feather_mask(self.photo.shape[:2], self.polygon, quad)
        self.box, self.alpha = mask.box, mask.alpha
        self._photo_weight = np.ascontiguousarray(1 - self.alpha)
        # The seam ring: where face and photo are blended (0 < alpha < 1).
        self.match_colour = match_colour
        self.grey = match_colour and _is_grey(self.photo)
        x0, y0, x1, y1 = self.box
        self._ring = ((self.alpha > 0) & (self.alpha < 1)).astype(np.uint8)
        self._photo_ring_mean = self._ring_mean(self.photo[y0:y1, x0:x1])
        downscale = self.face_size / quad_side(quad)  # generator pixels per photo pixel
        self.prefilter_sigma = max(0.0, (downscale - 1) / 2)
        # photo pixel (relative to the box) -> face pixel
        x0, y0 = self.box[:2]
        shift = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], dtype=np.float64)
        self._matrix = source_to_aligned_matrix(quad, self.face_size) @ shift

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames `paste` returns."""
        return self.photo.shape[1], self.photo.shape[0]

    def mask(self) -> np.ndarray:
        """The whole feathered mask, float32 [H, W] (for inspection; pasting uses only its box)."""
        full = np.zeros(self.photo.shape[:2], np.float32)
        x0, y0, x1, y1 = self.box
        full[y0:y1, x0:x1] = self.alpha
        return full

    def warp(self, face: np.ndarray) -> np.ndarray:
        """The face resampled into the photo over `box`: [y1 - y0, x1 - x0, 3] uint8."""
        cv2 = opencv()

        face = np.ascontiguousarray(face)
        if face.dtype != np.uint8 or face.shape != (self.face_size, self.face_size, 3):
            raise ValueError(f"faces to paste must be [{self.face_size}, {self.face_size}, 3] uint8, "
                             f"got {face.dtype} {face.shape}")
        if self.prefilter_sigma > 0.05:
            face = cv2.GaussianBlur(face, (0, 0), sigmaX=self.prefilter_sigma, sigmaY=self.prefilter_sigma,
                                    borderType=cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = self.box
        return cv2.warpAffine(face, self._matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def _ring_mean(self, image: np.ndarray) -> np.ndarray:
        """Per-channel mean of a box-sized [h, w, 3] image over the seam ring, float64 [3]."""
        cv2 = opencv()

        if not self._ring.any():
            return np.zeros(3)
        return np.array(cv2.mean(np.ascontiguousarray(image), mask=self._ring)[:3])

    def face_layer(self, face: np.ndarray) -> np.ndarray:
        """What is blended over the photo in `box`: the warped face, colour-matched if that is on,
        [y1 - y0, x1 - x0, 3] uint8."""
        cv2 = opencv()

        layer = self.warp(face)
        if self.grey:
            layer = cv2.cvtColor(cv2.cvtColor(layer, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        if self.match_colour:
            offset = self._photo_ring_mean - self._ring_mean(layer)  # per channel, the whole face alike
            layer = cv2.add(layer, (*offset.tolist(), 0.0))  # rounded and saturated
        return layer

    def seam_difference(self, face: np.ndarray) -> float:
        """Mean |face layer - photo| over the seam ring (0 < alpha < 1), in 8-bit levels."""
        x0, y0, x1, y1 = self.box
        ring = self._ring.astype(bool)
        diff = self.face_layer(face)[ring].astype(np.float32) - self.photo[y0:y1, x0:x1][ring]
        return float(np.abs(diff).mean())

    def paste(self, face: np.ndarray) -> np.ndarray:
        """One frame: a fresh copy of the photo with `face` ([G, G, 3] uint8) blended in."""
        cv2 = opencv()

        layer = self.face_layer(face)
        frame = self.photo.copy()
        x0, y0, x1, y1 = self.box
        # alpha * face + (1 - alpha) * photo, rounded: where alpha is 0 that is the photo's value exactly
        frame[y0:y1, x0:x1] = cv2.blendLinear(layer, np.ascontiguousarray(frame[y0:y1, x0:x1]), self.alpha,
                                              self._photo_weight)
        return frame

    def frames(self, faces: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """`paste` over a stream of faces, one frame at a time."""
        for face in faces:
            yield self.paste(face)
