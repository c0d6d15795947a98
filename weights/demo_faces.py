"""Procedural cartoon faces: the training data of the demo model (64x64 RGB, deterministic from a seed).

Each face is described by a `FaceParams` (mostly continuous values: colours, sizes, positions, smile
curvature, head tilt, ...), drawn with Pillow at 4x the final resolution and downsampled with LANCZOS,
which anti-aliases the polygon edges. Continuous parameters matter: the demo model learns a latent
space from these images, and a morph between two faces only has smooth in-betweens to learn if the
data itself varies smoothly.

Reproducibility: face `i` of the data set with seed `s` is drawn from `np.random.default_rng([s, i])`,
so it does not depend on how many faces are generated or on how the work is split over processes.
The demo model is trained on seed `TRAIN_SEED` and measured on seed `HELDOUT_SEED`.

Run as a script to preview faces: `python -m weights.demo_faces --grid out/faces.png`.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64            # output resolution
SUPERSAMPLE = 4      # drawn at SIZE * SUPERSAMPLE, then LANCZOS-downsampled
TRAIN_SEED = 0       # data-set seed of the training faces
HELDOUT_SEED = 1     # data-set seed of the held-out faces (metrics, tests, examples)

HAIR_STYLES = ("bald", "short", "long", "fringe", "bun", "afro")
GLASSES_STYLES = ("none", "round", "square")

# Colour ramps: a continuous parameter t in [0, 1] picks a point on the piecewise-linear ramp.
SKIN_RAMP = [(255, 227, 200), (241, 196, 160), (224, 172, 125), (196, 136, 90), (150, 98, 62), (96, 62, 42)]
HAIR_RAMP = [(24, 20, 20), (62, 40, 28), (112, 72, 42), (168, 92, 46), (214, 176, 108), (236, 216, 168),
             (176, 176, 180)]
IRIS_RAMP = [(72, 44, 24), (122, 88, 40), (72, 122, 62), (64, 112, 176), (112, 124, 136)]
FRAME_RAMP = [(20, 20, 24), (92, 52, 30), (150, 30, 40), (30, 60, 140), (150, 150, 160)]


def ramp(colours: list[tuple[int, int, int]], t: float) -> tuple[float, float, float]:
    """Colour at position `t` in [0, 1] of a piecewise-linear ramp through `colours`."""
    t = min(max(t, 0.0), 1.0) * (len(colours) - 1)
    i = min(int(t), len(colours) - 2)
    f = t - i
    a, b = colours[i], colours[i + 1]
    return tuple(a[k] + (b[k] - a[k]) * f for k in range(3))


def mix(a, b, f: float) -> tuple[float, float, float]:
    """Linear blend of two RGB colours: f=0 gives a, f=1 gives b."""
    return tuple(a[k] + (b[k] - a[k]) * f for k in range(3))


def scale(colour, f: float) -> tuple[float, float, float]:
    """Darken (f < 1) or brighten (f > 1) an RGB colour."""
    return tuple(c * f for c in colour)


def rgb(colour) -> tuple[int, int, int]:
    """Float RGB -> the int tuple Pillow wants, clipped to 0..255."""
    return tuple(int(round(min(max(c, 0.0), 255.0))) for c in colour)


@dataclass
class FaceParams:
    """Everything that defines one face. Lengths are fractions of the image size, angles in radians.

    Geometry is in head-local coordinates: origin at the face centre, y pointing down, and the whole
    head (with neck and shoulders) rotated by `tilt` about that centre when drawn.
    """

    # background: a linear gradient between two colours along direction `bg_angle`
    bg_a: tuple[float, float, float]
    bg_b: tuple[float, float, float]
    bg_angle: float
    # head placement and shape (superellipse with exponent `squareness`, lower half narrowed by `jaw`)
    cx: float
    cy: float
    face_w: float
    face_h: float
    squareness: float
    jaw: float
    tilt: float
    skin: tuple[float, float, float]
    ear_size: float
    shirt: tuple[float, float, float]
    # hair
    hair_style: str
    hair: tuple[float, float, float]
    hair_volume: float
    hairline: float
    hair_length: float
    hair_part: float
    fringe_jag: float
    # eyes
    eye_y: float
    eye_dx: float
    eye_r: float
    eye_aspect: float
    iris: tuple[float, float, float]
    iris_frac: float
    gaze: float
    # brows
    brow_gap: float
    brow_len: float
    brow_thick: float
    brow_tilt: float
    brow_arch: float
    # nose
    nose_y: float
    nose_len: float
    nose_w: float
    # mouth
    mouth_y: float
    mouth_w: float
    smile: float
    mouth_open: float
    lip_thick: float
    lips: tuple[float, float, float]
    blush: float
    # glasses
    glasses: str
    glasses_size: float
    glasses_frame: tuple[float, float, float]
    glasses_width: float


def sample_params(rng: np.random.Generator) -> FaceParams:
    """Draw one random face. Every field is a continuous draw except the two categorical styles."""
    u = rng.uniform

    def pastel():
        return tuple(u(90, 235) for _ in range(3))

    skin_t = u(0, 1)
    skin = tuple(c + u(-8, 8) for c in ramp(SKIN_RAMP, skin_t))
    hair_style = HAIR_STYLES[rng.integers(len(HAIR_STYLES))]
    face_w = u(0.22, 0.29)
    eye_r = u(0.032, 0.05)
    glasses = GLASSES_STYLES[0] if u() < 0.65 else GLASSES_STYLES[1 + rng.integers(2)]
    return FaceParams(
        bg_a=pastel(), bg_b=pastel(), bg_angle=u(-0.8, 0.8),
        cx=u(0.46, 0.54), cy=u(0.46, 0.53), face_w=face_w, face_h=face_w * u(1.12, 1.38),
        squareness=u(2.0, 3.2), jaw=u(0.0, 0.3), tilt=float(np.clip(rng.normal(0, 0.08), -0.18, 0.18)),
        skin=skin, ear_size=u(0.8, 1.2), shirt=tuple(u(30, 230) for _ in range(3)),
        hair_style=hair_style, hair=tuple(c + u(-6, 6) for c in ramp(HAIR_RAMP, u(0, 1))),
        hair_volume=u(0.95, 1.15), hairline=u(0.45, 0.7), hair_length=u(0.5, 1.5), hair_part=u(-0.35, 0.35),
        fringe_jag=u(0, 1),
        eye_y=u(-0.16, 0.06), eye_dx=u(0.36, 0.5), eye_r=eye_r, eye_aspect=u(0.55, 0.95),
        iris=ramp(IRIS_RAMP, u(0, 1)), iris_frac=u(0.45, 0.7), gaze=u(-0.35, 0.35),
        brow_gap=u(0.018, 0.045), brow_len=u(1.0, 1.5), brow_thick=u(0.008, 0.022), brow_tilt=u(-0.35, 0.35),
        brow_arch=u(0.0, 0.02),
        nose_y=u(0.12, 0.3), nose_len=u(0.04, 0.09), nose_w=u(0.022, 0.045),
        mouth_y=u(0.45, 0.62), mouth_w=u(0.28, 0.5), smile=u(-0.4, 1.0), mouth_open=max(0.0, u(-0.6, 1.0)),
        lip_thick=u(0.005, 0.016), lips=mix(skin, (200, 60, 70), u(0.25, 0.7)), blush=max(0.0, u(-0.5, 1.0)),
        glasses=glasses, glasses_size=u(1.25, 1.7), glasses_frame=ramp(FRAME_RAMP, u(0, 1)),
        glasses_width=u(0.006, 0.012),
    )


def face_params(seed: int, index: int) -> FaceParams:
    """Parameters of face `index` of the data set with seed `seed` (independent of the set's size)."""
    return sample_params(np.random.default_rng([int(seed), int(index)]))


def ellipse(x: float, y: float, rx: float, ry: float, n: int = 48) -> np.ndarray:
    """Points `[n, 2]` of an axis-aligned ellipse (a polygon, so it can be rotated with the head)."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([x + rx * np.cos(t), y + ry * np.sin(t)], axis=1)


def superellipse(rx: float, ry: float, power: float, jaw: float = 0.0, n: int = 96) -> np.ndarray:
    """Points `[n, 2]` of |x/rx|^p + |y/ry|^p = 1 centred at 0, the lower half (y > 0) narrowed by `jaw`."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    x = rx * np.sign(c) * np.abs(c) ** (2 / power)
    y = ry * np.sign(s) * np.abs(s) ** (2 / power)
    x = x * (1 - jaw * np.clip(y / ry, 0, 1) ** 2)
    return np.stack([x, y], axis=1)


def face_top(p: FaceParams, x: np.ndarray, grow: float = 1.0) -> np.ndarray:
    """y of the face outline's upper half at abscissas `x` (head-local), outline scaled by `grow`."""
    rx, ry = p.face_w * grow, p.face_h * grow
    inside = np.clip(1 - np.abs(x / rx) ** p.squareness, 0, 1)
    return -ry * inside ** (1 / p.squareness)


class Canvas:
    """A supersampled RGB image plus the head-local -> pixel transform (rotation by tilt, then shift)."""

    def __init__(self, p: FaceParams, size: int):
        self.size = size
        self.p = p
        self.cos, self.sin = math.cos(p.tilt), math.sin(p.tilt)
        self.image = self._background(p, size)
        self.draw = ImageDraw.Draw(self.image)

    @staticmethod
    def _background(p: FaceParams, size: int) -> Image.Image:
        # The gradient is smooth, so it is computed on a 32x32 grid and upsampled (bilinear): the
        # full-size numpy version took 40% of the rendering time.
        small = 32
        coords = (np.arange(small, dtype=np.float32) + 0.5) / small - 0.5
        t = coords[None, :] * math.sin(p.bg_angle) + coords[:, None] * math.cos(p.bg_angle)
        t = np.clip(t + 0.5, 0, 1)[..., None]
        img = np.asarray(p.bg_a, np.float32) * (1 - t) + np.asarray(p.bg_b, np.float32) * t
        return Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)

    def px(self, pts) -> list[tuple[float, float]]:
        """Head-local points `[n, 2]` -> pixel coordinates (rotated about the face centre)."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        x = pts[:, 0] * self.cos - pts[:, 1] * self.sin + self.p.cx
        y = pts[:, 0] * self.sin + pts[:, 1] * self.cos + self.p.cy
        return list(zip((x * self.size).tolist(), (y * self.size).tolist()))

    def polygon(self, pts, colour) -> None:
        self.draw.polygon(self.px(pts), fill=rgb(colour))

    def line(self, pts, colour, width: float, closed: bool = False) -> None:
        pts = np.asarray(pts)
        if closed:
            pts = np.concatenate([pts, pts[:1]], axis=0)
        self.draw.line(self.px(pts), fill=rgb(colour), width=max(1, int(round(width * self.size))), joint="curve")


def band(x: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Closed polygon between two curves over the same abscissas: top left->right, bottom right->left."""
    upper = np.stack([x, top], axis=1)
    lower = np.stack([x[::-1], bottom[::-1]], axis=1)
    return np.concatenate([upper, lower], axis=0)


def draw_back_hair(c: Canvas, p: FaceParams) -> None:
    """Hair behind the head: a cap over the skull, plus the curtain of long hair, a bun or an afro."""
    if p.hair_style == "bald":
        return
    fw, fh, v = p.face_w, p.face_h, p.hair_volume
    if p.hair_style == "afro":
        t = np.linspace(0, 2 * math.pi, 120, endpoint=False)
        bumps = 1 + 0.035 * np.sin(14 * t + 3 * p.hair_part)
        pts = np.stack([1.45 * v * fw * np.cos(t) * bumps, -0.2 * fh + 1.12 * v * fh * np.sin(t) * bumps], axis=1)
        c.polygon(pts, p.hair)
        return
    if p.hair_style == "long":
        top, bottom = -fh * 1.05 * v, fh * (0.2 + p.hair_length)
        pts = superellipse(1.22 * v * fw, (bottom - top) / 2, 4.0)
        pts[:, 1] += (top + bottom) / 2
        c.polygon(pts, p.hair)
    if p.hair_style == "bun":
        c.polygon(ellipse(0, -fh * 1.08, fw * 0.42, fw * 0.38), scale(p.hair, 0.92))
    # The cap: a slightly larger head outline, cut flat at ear height so no rim shows along the jaw.
    cap = superellipse(fw * 1.08 * v, fh * 1.06 * v, p.squareness)
    cap[:, 1] -= fh * 0.06
    limit = fh * (0.25 if p.hair_style == "fringe" else 0.0)
    cap[:, 1] = np.minimum(cap[:, 1], limit)
    c.polygon(cap, p.hair)


def hairline(p: FaceParams, x: np.ndarray) -> np.ndarray:
    """y of the lower edge of the front hair at head-local abscissas `x` (per style)."""
    fw, fh = p.face_w, p.face_h
    u = (x - p.hair_part * fw) / fw
    if p.hair_style == "long":
        # A middle/side parting: high at the part, down to the eyes at the sides.
        return -fh * 0.95 + fh * 0.95 * np.clip(np.abs(u) / 0.9, 0, 1) ** 0.7
    if p.hair_style == "fringe":
        brow_y = fh * p.eye_y - p.eye_r * p.eye_aspect - p.brow_gap - 0.012
        teeth = 0.014 * p.fringe_jag * np.abs(np.sin(x / fw * 5 * math.pi))
        return brow_y - teeth + fh * 0.25 * (x / fw) ** 2
    lift = 0.12 if p.hair_style == "bun" else 0.0  # slicked back: a higher hairline
    return -fh * (p.hairline + lift) + fh * 0.3 * u ** 2


def draw_front_hair(c: Canvas, p: FaceParams) -> None:
    """Hair over the forehead: the region between the top of the head and the style's hairline."""
    if p.hair_style == "bald":
        return
    grow = 1.06
    x = np.linspace(-p.face_w * grow, p.face_w * grow, 64)
    top = face_top(p, x, grow) - 0.004
    bottom = np.maximum(np.minimum(hairline(p, x), 0.0), top)
    c.polygon(band(x, top, bottom), p.hair)


def draw_eye(c: Canvas, p: FaceParams, side: int) -> None:
    """One eye (side -1 = image left, +1 = image right): sclera, iris, pupil, highlight, outline."""
    x, y = side * p.eye_dx * p.face_w, p.eye_y * p.face_h
    rx, ry = p.eye_r, p.eye_r * p.eye_aspect
    c.polygon(ellipse(x, y, rx, ry, 32), (250, 250, 246))
    # The iris stays inside the sclera's height, so no clipping is needed.
    ir = min(p.eye_r * p.iris_frac, ry * 0.92)
    ix = x + p.gaze * (rx - ir)
    c.polygon(ellipse(ix, y, ir, ir, 24), p.iris)
    c.polygon(ellipse(ix, y, ir * 0.5, ir * 0.5, 16), (16, 12, 12))
    c.polygon(ellipse(ix - ir * 0.3, y - ir * 0.3, ir * 0.22, ir * 0.22, 12), (255, 255, 255))
    c.line(ellipse(x, y, rx, ry, 32), (40, 28, 24), 0.006, closed=True)


def draw_brow(c: Canvas, p: FaceParams, side: int) -> None:
    """One eyebrow: an arched band above the eye, tilted (mirrored per side)."""
    x0 = side * p.eye_dx * p.face_w
    y0 = p.eye_y * p.face_h - p.eye_r * p.eye_aspect - p.brow_gap
    half = p.eye_r * p.brow_len
    u = np.linspace(-1, 1, 16)
    x = x0 + u * half
    # Positive tilt raises the inner ends (towards the nose): a worried/surprised look.
    centre = y0 - p.brow_arch * (1 - u ** 2) + p.brow_tilt * half * (u * side)
    thick = p.brow_thick * (0.55 + 0.45 * np.sqrt(1 - u ** 2))
    c.polygon(band(x, centre - thick / 2, centre + thick / 2), scale(p.hair, 0.8))


def draw_nose(c: Canvas, p: FaceParams) -> None:
    """Nose: a shaded bridge line and a rounded tip with two nostrils."""
    shade = scale(p.skin, 0.82)
    tip_y = p.nose_y * p.face_h + p.nose_len / 2
    c.line([(0.0, tip_y - p.nose_len), (p.nose_w * 0.25, tip_y - p.nose_len * 0.3), (0.0, tip_y)], shade, 0.007)
    c.polygon(ellipse(0, tip_y, p.nose_w, p.nose_w * 0.6, 24), scale(p.skin, 0.9))
    for side in (-1, 1):
        c.polygon(ellipse(side * p.nose_w * 0.45, tip_y + p.nose_w * 0.2, p.nose_w * 0.18, p.nose_w * 0.12, 12),
                  scale(p.skin, 0.55))


def draw_mouth(c: Canvas, p: FaceParams) -> None:
    """Mouth: lips between two curves bent by `smile`, an opening of height `mouth_open` with teeth."""
    my, hw = p.mouth_y * p.face_h, p.mouth_w * p.face_w
    u = np.linspace(-1, 1, 25)
    x = u * hw
    base = my - p.smile * 0.03 * u ** 2          # smile > 0 lifts the corners
    profile = np.sqrt(1 - u ** 2)
    gap = p.mouth_open * 0.035 * (1 - u ** 2) ** 0.7
    upper = base - gap / 2 - p.lip_thick * profile
    lower = base + gap / 2 + p.lip_thick * 1.3 * profile
    c.polygon(band(x, upper, lower), p.lips)
    if p.mouth_open > 0:
        c.polygon(band(x, base - gap / 2, base + gap / 2), (70, 22, 28))
        c.polygon(band(x * 0.8, (base - gap / 2) * 1.0, base - gap / 2 + gap * 0.35), (244, 240, 232))
    c.line(np.stack([x, base], axis=1), scale(p.lips, 0.6), 0.005)


def draw_glasses(c: Canvas, p: FaceParams) -> None:
    """Round or square frames around both eyes, a bridge and the arms towards the ears."""
    if p.glasses == "none":
        return
    rx = p.eye_r * p.glasses_size
    ry = rx * (0.85 if p.glasses == "round" else 0.7)
    y = p.eye_y * p.face_h
    power = 2.0 if p.glasses == "round" else 4.5
    for side in (-1, 1):
        x = side * p.eye_dx * p.face_w
        lens = superellipse(rx, ry, power, n=48)
        lens[:, 0] += x
        lens[:, 1] += y
        c.line(lens, p.glasses_frame, p.glasses_width, closed=True)
        outer = x + side * rx
        c.line([(outer, y - ry * 0.3), (side * p.face_w * 1.02, y - ry * 0.45)], p.glasses_frame, p.glasses_width)
    inner = p.eye_dx * p.face_w - rx
    c.line([(-inner, y - ry * 0.2), (0, y - ry * 0.45), (inner, y - ry * 0.2)], p.glasses_frame, p.glasses_width)


def draw_face(c: Canvas, p: FaceParams) -> None:
    """The whole head, back to front: hair behind, shoulders, neck, ears, face, features, fringe, glasses."""
    fw, fh = p.face_w, p.face_h
    c.polygon(ellipse(0, fh + 0.34, 0.4, 0.24, 64), p.shirt)            # shoulders (cut off by the frame)
    draw_back_hair(c, p)
    c.polygon([(-fw * 0.42, 0), (fw * 0.42, 0), (fw * 0.42, fh + 0.13), (-fw * 0.42, fh + 0.13)],
              scale(p.skin, 0.86))                                        # neck, in the shadow of the chin
    c.polygon(ellipse(0, fh + 0.13, fw * 0.42, 0.03, 32), scale(p.skin, 0.86))
    for side in (-1, 1):                                                  # ears
        x, y = side * fw * 0.97, fh * 0.05
        c.polygon(ellipse(x, y, 0.042 * p.ear_size, 0.07 * p.ear_size, 24), scale(p.skin, 0.95))
        c.polygon(ellipse(x + side * 0.008, y, 0.02 * p.ear_size, 0.045 * p.ear_size, 16), scale(p.skin, 0.78))
    outline = superellipse(fw, fh, p.squareness, p.jaw)
    c.polygon(outline, p.skin)
    c.line(outline, scale(p.skin, 0.72), 0.008, closed=True)
    if p.blush > 0:
        cheek = mix(p.skin, (236, 110, 120), 0.35 * p.blush)
        for side in (-1, 1):
            c.polygon(ellipse(side * fw * 0.58, fh * (p.mouth_y - 0.12), fw * 0.2, fw * 0.12, 24), cheek)
    for side in (-1, 1):
        draw_eye(c, p, side)
        draw_brow(c, p, side)
    draw_nose(c, p)
    draw_mouth(c, p)
    draw_front_hair(c, p)
    draw_glasses(c, p)


def render_face(params: FaceParams, size: int = SIZE, supersample: int = SUPERSAMPLE) -> Image.Image:
    """Draw a face: `FaceParams` -> RGB `PIL.Image` of `size` x `size` (drawn at `size * supersample`)."""
    canvas = Canvas(params, size * supersample)
    draw_face(canvas, params)
    if supersample == 1:
        return canvas.image
    return canvas.image.resize((size, size), Image.LANCZOS)


def _render_range(args: tuple[int, int, int, int]) -> np.ndarray:
    """Worker: faces `start..stop-1` of seed `seed` -> `[stop-start, size, size, 3]` uint8."""
    seed, start, stop, size = args
    out = np.empty((stop - start, size, size, 3), np.uint8)
    for j, i in enumerate(range(start, stop)):
        out[j] = np.asarray(render_face(face_params(seed, i), size))
    return out


def _source_hash() -> str:
    """Short hash of this file: cached data sets are invalidated whenever the renderer changes."""
    return hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:10]


def make_dataset(n: int, seed: int = TRAIN_SEED, size: int = SIZE, workers: int | None = None,
                 cache_dir: str | Path | None = None) -> np.ndarray:
    """Faces `0..n-1` of the set with seed `seed`: `[n, size, size, 3]` uint8, identical for any `workers`.

    Large sets are rendered in parallel processes (`workers`, default: all CPUs). With `cache_dir` the
    array is stored as an .npy named after n, seed, size and this file's hash, and read back next time.
    """
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"faces_{_source_hash()}_n{n}_s{seed}_{size}px.npy"
        if cache.is_file():
            return np.load(cache)
    workers = workers or os.cpu_count() or 1
    if n < 256 or workers == 1:
        data = _render_range((seed, 0, n, size))
    else:
        chunk = max(64, math.ceil(n / (workers * 4)))
        jobs = [(seed, start, min(start + chunk, n), size) for start in range(0, n, chunk)]
        # spawn, not fork: the caller may already run torch's thread pools, which fork can deadlock.
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            data = np.concatenate(list(pool.map(_render_range, jobs)), axis=0)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, data)
        tmp.replace(cache)
    return data


def grid(images: np.ndarray, columns: int = 8) -> Image.Image:
    """`[n, H, W, 3]` uint8 -> one contact-sheet image with `columns` images per row."""
    n, h, w, _ = images.shape
    rows = math.ceil(n / columns)
    sheet = np.full((rows * h, columns * w, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, columns)
        sheet[r * h:(r + 1) * h, col * w:(col + 1) * w] = img
    return Image.fromarray(sheet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", required=True, help="write a contact sheet of faces to this PNG")
    parser.add_argument("-n", type=int, default=64, help="number of faces")
    parser.add_argument("--seed", type=int, default=HELDOUT_SEED, help="data-set seed")
    parser.add_argument("--scale", type=int, default=2, help="nearest-neighbour zoom of the sheet")
    args = parser.parse_args()
    sheet = grid(make_dataset(args.n, args.seed))
    sheet = sheet.resize((sheet.width * args.scale, sheet.height * args.scale), Image.NEAREST)
    Path(args.grid).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.grid)
    print(f"wrote {args.grid}")


if __name__ == "__main__":
    main()
