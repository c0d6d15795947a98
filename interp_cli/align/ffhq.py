"""The FFHQ alignment: the oriented square crop the FFHQ dataset (and so e4e) expects.

Coordinates. Source points (landmarks, quad corners) are in pixels with pixel centres at
integer coordinates, the convention dlib's landmarks use. The quad holds the source positions
of the aligned image's four *corners* in the order top-left, bottom-left, bottom-right,
top-right; so aligned pixel (u, v) (centre at u + 0.5, v + 0.5 in the [0, N] square) comes from
source point quad[0] + (u + 0.5) / N * (quad[3] - quad[0]) + (v + 0.5) / N * (quad[1] - quad[0]).
This is the mapping the FFHQ script gives PIL (it passes `quad + 0.5` in PIL's edge-based
coordinates). `aligned_to_source` / `source_to_aligned` apply it and its inverse, and
`source_to_aligned_matrix` gives the inverse as an affine matrix (for pasting a face back).

Rendering follows the FFHQ recipe step by step: for a face much larger than the output, shrink
the photo by an integer factor first (area averaging); crop to the quad plus a border; where
the quad reaches outside the photo, reflect-pad and blend the padding towards a blurred copy
and then towards the median colour, so no hard mirror seams reach the encoder; finally resample
the quad to the output square. The last step renders at k x the output size (k = the smallest
integer for which that is at least the quad's size in the photo) with bilinear sampling and
box-averages k x k blocks, an antialiased equivalent of the recipe's 4096 px bilinear render
plus Lanczos downsampling; faces smaller than the output (k = 1) are sampled bicubically.
"""

from __future__ import annotations

import math

import numpy as np
from .cv import opencv

EYE_LEFT = slice(36, 42)  # the eye on the image's left (the subject's right eye)
EYE_RIGHT = slice(42, 48)
MOUTH_LEFT, MOUTH_RIGHT = 48, 54
_MAX_SUPERSAMPLE = 4
_MEDIAN_SAMPLES = 1 << 18  # the fill colour's median is taken over at most this many pixels


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """The FFHQ crop for 68 landmarks ([68, 2] source pixels) -> quad [4, 2] float64.

    The square is centred a tenth of the way from the eyes' midpoint to the mouth's, turned so
    that its horizontal axis follows the eye line (corrected by the eye-to-mouth direction), and
    has half-side max(2 x eye distance, 1.8 x eye-to-mouth distance).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    eye_left = points[EYE_LEFT].mean(axis=0)
    eye_right = points[EYE_RIGHT].mean(axis=0)
    eye_mid = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    mouth_mid = (points[MOUTH_LEFT] + points[MOUTH_RIGHT]) / 2
    eye_to_mouth = mouth_mid - eye_mid

    # The eye line and the perpendicular of the eye-to-mouth line, averaged.
    x_axis = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    x_axis /= np.hypot(*x_axis)
    x_axis *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y_axis = np.array([-x_axis[1], x_axis[0]])
    centre = eye_mid + eye_to_mouth * 0.1
    return np.stack(
        [centre - x_axis - y_axis, centre - x_axis + y_axis, centre + x_axis + y_axis, centre + x_axis - y_axis]
    )


def aligned_to_source(points: np.ndarray, quad: np.ndarray, output_size: int) -> np.ndarray:
    """Map aligned-image pixel positions ([..., 2], centres at integers) to source pixels."""
    points = np.asarray(points, dtype=np.float64)
    quad = np.asarray(quad, dtype=np.float64)
    fraction = (points + 0.5) / output_size
    return quad[0] + fraction[..., :1] * (quad[3] - quad[0]) + fraction[..., 1:2] * (quad[1] - quad[0])


def source_to_aligned(points: np.ndarray, quad: np.ndarray, output_size: int) -> np.ndarray:
    """Map source pixel positions ([..., 2]) into the aligned image (inverse of `aligned_to_source`)."""
    points = np.asarray(points, dtype=np.float64)
    quad = np.asarray(quad, dtype=np.float64)
    axes = np.stack([quad[3] - quad[0], quad[1] - quad[0]], axis=1)  # columns: the u and v directions
    fraction = np.linalg.solve(axes, (points - quad[0]).reshape(-1, 2).T).T.reshape(points.shape)
    return fraction * output_size - 0.5


def source_to_aligned_matrix(quad: np.ndarray, output_size: int) -> np.ndarray:
    """The affine map of `source_to_aligned` as a [2, 3] matrix: aligned = M @ [x, y, 1].

    Source and aligned positions both have pixel centres at integers, so this is the matrix a
    warp that samples the aligned image at every source pixel needs (e.g. OpenCV's warpAffine
    with WARP_INVERSE_MAP); it is the inverse of the FFHQ crop's transform.
    """
    quad = np.asarray(quad, dtype=np.float64)
    axes = np.stack([quad[3] - quad[0], quad[1] - quad[0]], axis=1)  # columns: the u and v directions
    linear = np.linalg.inv(axes) * output_size
    offset = -linear @ quad[0] - 0.5
    return np.concatenate([linear, offset[:, None]], axis=1)


def quad_side(quad: np.ndarray) -> float:
    """Side length of the quad in source pixels."""
    return float(np.hypot(*(np.asarray(quad[3]) - np.asarray(quad[0]))))


def render_aligned(rgb: np.ndarray, quad: np.ndarray, output_size: int) -> np.ndarray:
    """The aligned crop: the part of `rgb` ([H, W, 3] uint8) inside `quad` resampled to
    [output_size, output_size, 3] uint8, following the FFHQ recipe (see the module docstring)."""
    cv2 = opencv()

    quad = np.asarray(quad, dtype=np.float64)
    side = quad_side(quad)
    height, width = rgb.shape[:2]

    # Shrink: the FFHQ recipe's integer factor, applied only when the face is >= 4x the output.
    shrink = max(1, int(math.floor(side / output_size * 0.5)))
    border = max(int(np.rint(side / shrink * 0.1)), 3) * shrink

    # Crop to the quad plus border (in source pixels), then shrink that region.
    x0 = max(int(math.floor(quad[:, 0].min())) - border, 0)
    y0 = max(int(math.floor(quad[:, 1].min())) - border, 0)
    x1 = min(int(math.ceil(quad[:, 0].max())) + border, width)
    y1 = min(int(math.ceil(quad[:, 1].max())) + border, height)
    if x1 <= x0 or y1 <= y0:  # the quad lies entirely outside the photo: pad from the nearest edge
        x0, x1 = (min(max(x0, 0), width - 1), min(max(x0, 0), width - 1) + 1)
        y0, y1 = (min(max(y0, 0), height - 1), min(max(y0, 0), height - 1) + 1)
    region = rgb[y0:y1, x0:x1]
    scale_x = scale_y = 1.0
    if shrink > 1:
        size = (max(1, int(np.rint((x1 - x0) / shrink))), max(1, int(np.rint((y1 - y0) / shrink))))
        region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        scale_x, scale_y = size[0] / (x1 - x0), size[1] / (y1 - y0)
    # Quad in the region's pixel frame (centres at integers: scale about pixel edges).
    local = (quad - [x0, y0] + 0.5) * [scale_x, scale_y] - 0.5
    local_side = side / shrink

    region, offset = _pad_with_blend(region, local, local_side)
    local = local + offset

    # Resample: render at k x output size, then average k x k blocks (antialiasing).
    supersample = min(max(1, math.ceil(local_side / output_size)), _MAX_SUPERSAMPLE)
    render_size = output_size * supersample
    step_u = (local[3] - local[0]) / render_size
    step_v = (local[1] - local[0]) / render_size
    origin = local[0] + 0.5 * step_u + 0.5 * step_v  # centre of render pixel (0, 0)
    to_source = np.array([[step_u[0], step_v[0], origin[0]], [step_u[1], step_v[1], origin[1]]])
    interpolation = cv2.INTER_CUBIC if supersample == 1 else cv2.INTER_LINEAR
    rendered = cv2.warpAffine(
        np.ascontiguousarray(region),
        to_source,
        (render_size, render_size),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if supersample > 1:
        rendered = cv2.resize(rendered, (output_size, output_size), interpolation=cv2.INTER_AREA)
    return rendered


def _pad_with_blend(region: np.ndarray, quad: np.ndarray, side: float) -> tuple[np.ndarray, np.ndarray]:
    """Reflect-pad `region` ([h, w, 3] uint8) where `quad` (region pixels) plus a border reaches
    outside it, blending the padding into a blur and the median colour as FFHQ does.

    Returns the (possibly) padded uint8 image and the (x, y) offset the padding added.
    """
    cv2 = opencv()

    height, width = region.shape[:2]
    border = max(int(np.rint(side * 0.1)), 3)
    pad_left = max(-int(math.floor(quad[:, 0].min())) + border, 0)
    pad_top = max(-int(math.floor(quad[:, 1].min())) + border, 0)
    pad_right = max(int(math.ceil(quad[:, 0].max())) - width + border, 0)
    pad_bottom = max(int(math.ceil(quad[:, 1].max())) - height + border, 0)
    if max(pad_left, pad_top, pad_right, pad_bottom) <= border - 4:
        return region, np.zeros(2)
    # Once padding at all, pad every side by at least 30% of the crop, like the recipe.
    minimum = int(np.rint(side * 0.3))
    pad_left, pad_top, pad_right, pad_bottom = (max(p, minimum) for p in (pad_left, pad_top, pad_right, pad_bottom))
    padded = cv2.copyMakeBorder(region, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_REFLECT_101)
    image = padded.astype(np.float32)
    full_height, full_width = image.shape[:2]

    # mask: 1 at the outer edge of the padding, 0 at the photo's own edge, negative inside it.
    x = np.arange(full_width, dtype=np.float32)
    y = np.arange(full_height, dtype=np.float32)
    mask_x = 1.0 - np.minimum(x / pad_left, (full_width - 1 - x) / pad_right)
    mask_y = 1.0 - np.minimum(y / pad_top, (full_height - 1 - y) / pad_bottom)
    mask = np.maximum(mask_x[None, :], mask_y[:, None])[..., None]

    sigma = side * 0.02
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    image += (blurred - image) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    stride = max(1, int(math.ceil(math.sqrt(full_height * full_width / _MEDIAN_SAMPLES))))
    median = np.median(image[::stride, ::stride].reshape(-1, 3), axis=0)
    image += (median - image) * np.clip(mask, 0.0, 1.0)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), np.array([pad_left, pad_top], dtype=np.float64)
