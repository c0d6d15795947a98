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
from dataclasses import dataclass, fields
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from interp_cli.files import atomic_write

SIZE = 64            # output resolution
SUPERSAMPLE = 4      # drawn at SIZE * SUPERSAMPLE, then LANCZOS-downsampled
TRAIN_SEED = 0       # data-set seed of the training faces
HELDOUT_SEED = 1     # data-set seed of the held-out faces (metrics, tests, examples)

HAIR_STYLES = ("bald", "short", "long", "fringe", "bun", "afro")
BLEND_PROB = 0.3     # share of faces that are a blend of two random faces (see `sample_params`)

# Colour ramps: a continuous parameter t in [0, 1] picks a point on the piecewise-linear ramp.
SKIN_RAMP = [(255, 227, 200), (241, 196, 160), (224, 172, 125), (196, 136, 90), (150, 98, 62), (96, 62, 42)]
HAIR_RAMP = [(24, 20, 20), (62, 40, 28), (112, 72, 42), (168, 92, 46), (214, 176, 108), (236, 216, 168),
             (176, 176, 180)]
IRIS_RAMP = [(72, 44, 24), (122, 88, 40), (72, 122, 62), (64, 112, 176), (112, 124, 136)]
FRAME_RAMP = [(20, 20, 24), (92, 52, 30), (150, 30, 40), (30, 60, 140), (150, 150, 160)]

# Range of every scalar field: used to draw it (uniformly, unless `sample_params` says otherwise) and
# to scale it to [-1, 1] in `param_vector`. Colour fields (RGB tuples) are scaled from 0..255.
RANGES: dict[str, tuple[float, float]] = {
    "bg_angle": (-0.8, 0.8),
    "cx": (0.46, 0.54), "cy": (0.46, 0.53), "face_w": (0.22, 0.29), "face_h": (0.25, 0.40),
    "squareness": (2.0, 3.2), "jaw": (0.0, 0.3), "tilt": (-0.18, 0.18), "ear_size": (0.8, 1.2),
    "hair_cover": (0.0, 1.0), "hair_long": (0.0, 1.0), "fringe": (0.0, 1.0), "bun": (0.0, 1.0), "afro": (0.0, 1.0),
    "hair_volume": (0.95, 1.15), "hairline": (0.45, 0.7), "hair_length": (0.5, 1.5), "hair_part": (-0.35, 0.35),
    "fringe_jag": (0.0, 1.0),
    "eye_y": (-0.16, 0.06), "eye_dx": (0.36, 0.5), "eye_r": (0.032, 0.05), "eye_aspect": (0.55, 0.95),
    "iris_frac": (0.45, 0.7), "gaze": (-0.35, 0.35),
    "brow_gap": (0.018, 0.045), "brow_len": (1.0, 1.5), "brow_thick": (0.008, 0.022), "brow_tilt": (-0.35, 0.35),
    "brow_arch": (0.0, 0.02),
    "nose_y": (0.12, 0.3), "nose_len": (0.04, 0.09), "nose_w": (0.022, 0.045),
    "mouth_y": (0.45, 0.62), "mouth_w": (0.28, 0.5), "smile": (-0.4, 1.0), "mouth_open": (0.0, 1.0),
    "lip_thick": (0.005, 0.016), "blush": (0.0, 1.0),
    "glasses": (0.0, 1.0), "glasses_square": (0.0, 1.0), "glasses_size": (1.25, 1.7), "glasses_width": (0.006, 0.012),
}


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


def lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


@dataclass
class FaceParams:
    """Everything that defines one face: only numbers, so any blend of two faces is a face too.

    Lengths are fractions of the image size, angles in radians, colours RGB 0..255. Geometry is in
    head-local coordinates: origin at the face centre, y pointing down, and the whole head (with neck
    and shoulders) rotated by `tilt` about that centre when drawn. Hair styles are continuous
    controls in [0, 1] (`hair_cover` 0 is bald; `hair_long`, `fringe`, `bun`, `afro` add to a short
    cut), and so is `glasses` (0: none, 1: full frames; `glasses_square` morphs round into square).
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
    hair: tuple[float, float, float]
    hair_cover: float
    hair_long: float
    fringe: float
    bun: float
    afro: float
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
    glasses: float
    glasses_square: float
    glasses_size: float
    glasses_frame: tuple[float, float, float]
    glasses_width: float


FIELDS = [f.name for f in fields(FaceParams)]
COLOUR_FIELDS = [name for name in FIELDS if name not in RANGES]
PARAM_DIM = len(RANGES) + 3 * len(COLOUR_FIELDS)  # length of `param_vector`


def sample_face(rng: np.random.Generator) -> FaceParams:
    """Draw one face of a definite style (one of HAIR_STYLES; glasses on or off)."""
    u = rng.uniform
    values = {name: u(lo, hi) for name, (lo, hi) in RANGES.items()}
    values["face_h"] = values["face_w"] * u(1.12, 1.38)
    values["tilt"] = float(np.clip(rng.normal(0, 0.08), -0.18, 0.18))
    values["mouth_open"] = max(0.0, u(-0.6, 1.0))  # a third of the mouths closed
    values["blush"] = max(0.0, u(-0.5, 1.0))
    style = HAIR_STYLES[rng.integers(len(HAIR_STYLES))]
    values.update(hair_cover=0.0 if style == "bald" else 1.0, hair_long=0.0, fringe=0.0, bun=0.0, afro=0.0)
    if style == "long":
        values["hair_long"] = u(0.6, 1.0)
    elif style == "fringe":
        values["fringe"] = u(0.7, 1.0)
    elif style == "bun":
        values["bun"] = u(0.8, 1.0)
    elif style == "afro":
        values["afro"] = u(0.7, 1.0)
    values["glasses"] = 1.0 if u() < 0.35 else 0.0
    skin = tuple(c + u(-8, 8) for c in ramp(SKIN_RAMP, u(0, 1)))
    values.update(
        bg_a=tuple(u(90, 235) for _ in range(3)), bg_b=tuple(u(90, 235) for _ in range(3)),
        skin=skin, shirt=tuple(u(30, 230) for _ in range(3)),
        hair=tuple(c + u(-6, 6) for c in ramp(HAIR_RAMP, u(0, 1))), iris=ramp(IRIS_RAMP, u(0, 1)),
        lips=mix(skin, (200, 60, 70), u(0.25, 0.7)), glasses_frame=ramp(FRAME_RAMP, u(0, 1)),
    )
    return FaceParams(**values)


def blend(a: FaceParams, b: FaceParams, t: float) -> FaceParams:
    """Field-by-field linear blend of two faces (t=0: a, t=1: b): the in-between of a morph."""
    values = {}
    for name in FIELDS:
        va, vb = getattr(a, name), getattr(b, name)
        values[name] = mix(va, vb, t) if isinstance(va, tuple) else lerp(va, vb, t)
    return FaceParams(**values)


def sample_params(rng: np.random.Generator) -> FaceParams:
    """Draw one random face: a face of one style or, with probability BLEND_PROB, a blend of two.

    The blends put in-betweens of every pair of styles (half-long hair, fading glasses, ...) into the
    data, so the demo model learns to draw what a morph passes through.
    """
    face = sample_face(rng)
    if rng.uniform() < BLEND_PROB:
        face = blend(face, sample_face(rng), rng.uniform())
    return face


def param_vector(p: FaceParams) -> np.ndarray:
    """The face as `[PARAM_DIM]` float32 numbers scaled to about [-1, 1] (scalars by RANGES, colours /255)."""
    out = [2 * (getattr(p, name) - lo) / (hi - lo) - 1 for name, (lo, hi) in RANGES.items()]
    for name in COLOUR_FIELDS:
        out += [c / 127.5 - 1 for c in getattr(p, name)]
    return np.asarray(out, np.float32)


def face_params(seed: int, index: int) -> FaceParams:
    """Parameters of face `index` of the data set with seed `seed` (independent of the set's size)."""
    return sample_params(np.random.default_rng([int(seed), int(index)]))


def make_param_vectors(n: int, seed: int = TRAIN_SEED) -> np.ndarray:
    """`param_vector` of faces `0..n-1` of the set with seed `seed`: `[n, PARAM_DIM]` float32 (fast: no drawing)."""
    return np.stack([param_vector(face_params(seed, i)) for i in range(n)])


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
        image = Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))
        return image.resize((size, size), Image.Resampling.BILINEAR)

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
    """Hair behind the head: the cap over the skull (grown into an afro by `afro`), the curtain of long
    hair and the bun. Every part grows continuously from nothing with its control."""
    if p.hair_cover < 0.02:
        return
    fw, fh, v, cover = p.face_w, p.face_h, p.hair_volume, p.hair_cover
    long = p.hair_long * cover
    if long > 0.02:
        top, bottom = -fh * 1.05 * v, lerp(0.0, fh * (0.2 + p.hair_length), long)
        pts = superellipse(fw * lerp(1.05, 1.22 * v, long), (bottom - top) / 2, 4.0)
        pts[:, 1] += (top + bottom) / 2
        c.polygon(pts, p.hair)
    if p.bun * cover > 0.02:
        r = fw * 0.42 * p.bun * cover
        c.polygon(ellipse(0, -fh * 1.0 - r * 0.2, r, r * 0.9), scale(p.hair, 0.92))
    # The cap: a slightly larger head outline (much larger and bumpy for an afro), cut flat at ear
    # height, or lower with a fringe or an afro, so no rim of hair shows along the jaw.
    t = np.linspace(0, 2 * math.pi, 120, endpoint=False)
    bumps = 1 + 0.035 * p.afro * np.sin(14 * t + 3 * p.hair_part)
    rx = fw * (1 + cover * (0.08 * v + 0.37 * p.afro))
    ry = fh * (1 + cover * (0.06 * v + 0.06 * p.afro))
    cap = superellipse(rx, ry, lerp(p.squareness, 2.0, p.afro), n=120) * bumps[:, None]
    cap[:, 1] -= fh * cover * (0.06 + 0.14 * p.afro)
    limit = fh * min(1.0, 0.25 * p.fringe + 0.95 * p.afro)
    cap[:, 1] = np.minimum(cap[:, 1], limit)
    c.polygon(cap, p.hair)


def hairline(p: FaceParams, x: np.ndarray) -> np.ndarray:
    """y of the lower edge of the front hair at head-local abscissas `x`: a short cut's hairline,
    bent towards a parted long style by `hair_long`, lowered to the brows by `fringe`, and raised
    off the head as `hair_cover` goes to 0."""
    fw, fh = p.face_w, p.face_h
    u = (x - p.hair_part * fw) / fw
    short = -fh * (p.hairline + 0.12 * p.bun) + fh * 0.3 * u ** 2
    parted = -fh * 0.95 + fh * 0.95 * np.clip(np.abs(u) / 0.9, 0, 1) ** 0.7
    line = short + (parted - short) * p.hair_long
    brow_y = fh * p.eye_y - p.eye_r * p.eye_aspect - p.brow_gap - 0.012
    teeth = 0.014 * p.fringe_jag * np.abs(np.sin(x / fw * 5 * math.pi))
    fringe = brow_y - teeth + fh * 0.25 * (x / fw) ** 2
    line = line + (fringe - line) * p.fringe
    return -fh * 1.2 + (line + fh * 1.2) * p.hair_cover


def draw_front_hair(c: Canvas, p: FaceParams) -> None:
    """Hair over the forehead: the region between the top of the head and the hairline."""
    if p.hair_cover < 0.02:
        return
    grow = 1.06
    x = np.linspace(-p.face_w * grow, p.face_w * grow, 64)
    top = face_top(p, x, grow) - 0.004
    bottom = np.maximum(np.minimum(hairline(p, x), 0.0), top)
    if float(np.max(bottom - top)) > 0.002:
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
    """Frames around both eyes, a bridge and the arms towards the ears. `glasses` fades them in (thin,
    skin-coloured frames at 0), `glasses_square` morphs round lenses into rectangular ones."""
    if p.glasses < 0.03:
        return
    colour = mix(p.skin, p.glasses_frame, p.glasses)
    width = p.glasses_width * (0.4 + 0.6 * p.glasses)
    rx = p.eye_r * p.glasses_size
    ry = rx * lerp(0.85, 0.7, p.glasses_square)
    y = p.eye_y * p.face_h
    power = lerp(2.0, 4.5, p.glasses_square)
    for side in (-1, 1):
        x = side * p.eye_dx * p.face_w
        lens = superellipse(rx, ry, power, n=48)
        lens[:, 0] += x
        lens[:, 1] += y
        c.line(lens, colour, width, closed=True)
        outer = x + side * rx
        c.line([(outer, y - ry * 0.3), (side * p.face_w * 1.02, y - ry * 0.45)], colour, width)
    inner = p.eye_dx * p.face_w - rx
    c.line([(-inner, y - ry * 0.2), (0, y - ry * 0.45), (inner, y - ry * 0.2)], colour, width)


def draw_face(c: Canvas, p: FaceParams, features: bool = True) -> None:
    """The whole head, back to front: hair behind, shoulders, neck, ears, face, features, fringe, glasses.

    `features=False` leaves out the eyes, brows, nose, mouth and glasses: with `feature_mask`, where
    they are, for measuring what a model makes of them.
    """
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
    if features:
        for side in (-1, 1):
            draw_eye(c, p, side)
            draw_brow(c, p, side)
        draw_nose(c, p)
        draw_mouth(c, p)
    draw_front_hair(c, p)
    if features:
        draw_glasses(c, p)


def render_face(params: FaceParams, size: int = SIZE, supersample: int = SUPERSAMPLE,
                features: bool = True) -> Image.Image:
    """Draw a face: `FaceParams` -> RGB `PIL.Image` of `size` x `size` (drawn at `size * supersample`).

    `features=False`: the same face without eyes, brows, nose, mouth and glasses.
    """
    canvas = Canvas(params, size * supersample)
    draw_face(canvas, params, features)
    if supersample == 1:
        return canvas.image
    return canvas.image.resize((size, size), Image.Resampling.LANCZOS)


def feature_mask(params: FaceParams, size: int = SIZE, threshold: int = 8) -> np.ndarray:
    """Where the eyes, brows, nose, mouth and glasses are: bool `[size, size]`, the pixels that drawing
    them changes by more than `threshold` levels in some channel, grown by one pixel (their edges)."""
    drawn = np.asarray(render_face(params, size), np.int16)
    bare = np.asarray(render_face(params, size, features=False), np.int16)
    mask = np.abs(drawn - bare).max(axis=2) > threshold
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    return grown


def _render_range(args: tuple[int, int, int, int, bool]) -> np.ndarray:
    """Worker: faces `start..stop-1` of seed `seed` -> `[stop-start, size, size, 3]` uint8, or with
    `masks`, their `feature_mask`s -> `[stop-start, size, size]` bool."""
    seed, start, stop, size, masks = args
    out = np.empty((stop - start, size, size) if masks else (stop - start, size, size, 3),
                   bool if masks else np.uint8)
    for j, i in enumerate(range(start, stop)):
        params = face_params(seed, i)
        out[j] = feature_mask(params, size) if masks else np.asarray(render_face(params, size))
    return out


def _source_hash() -> str:
    """Short hash of this file: cached data sets are invalidated whenever the renderer changes."""
    return hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:10]


def make_dataset(n: int, seed: int = TRAIN_SEED, size: int = SIZE, workers: int | None = None,
                 cache_dir: str | Path | None = None, masks: bool = False) -> np.ndarray:
    """Faces `0..n-1` of the set with seed `seed`: `[n, size, size, 3]` uint8, identical for any `workers`;
    with `masks`, their `feature_mask`s instead: `[n, size, size]` bool.

    Large sets are rendered in parallel processes (`workers`, default: all CPUs). With `cache_dir` the
    array is stored as an .npy named after n, seed, size and this file's hash, and read back next time.
    """
    cache = None
    if cache_dir is not None:
        kind = "masks" if masks else "faces"
        cache = Path(cache_dir) / f"{kind}_{_source_hash()}_n{n}_s{seed}_{size}px.npy"
        if cache.is_file():
            return np.load(cache)
    workers = workers or os.cpu_count() or 1
    if n < 256 or workers == 1:
        data = _render_range((seed, 0, n, size, masks))
    else:
        chunk = max(64, math.ceil(n / (workers * 4)))
        jobs = [(seed, start, min(start + chunk, n), size, masks) for start in range(0, n, chunk)]
        # spawn, not fork: the caller may already run torch's thread pools, which fork can deadlock.
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            data = np.concatenate(list(pool.map(_render_range, jobs)), axis=0)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache) as fh:
            np.save(fh, data)
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
    sheet = sheet.resize((sheet.width * args.scale, sheet.height * args.scale), Image.Resampling.NEAREST)
    Path(args.grid).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.grid)
    print(f"wrote {args.grid}")


if __name__ == "__main__":
    main()
