"""Latent schedules: which W+ code each output frame shows (pure numpy, float32 codes).

Codes are W+ latents of shape [n_styles, 512] (float32); a keyframe stack is [K, n_styles, 512].

Building blocks
    linear_times(steps)       t_i = i / (steps - 1), exactly 0.0 and 1.0 at the ends.
    ease(t, kind)             linear | smooth (smoothstep) | cosine | cubic (ease-in-out cubic).
    lerp / slerp / catmull_rom  interpolation between codes, always float32 out.

Keyframe chains
    plan_frames(K, steps, loop=, pingpong=, hold=, ease=) -> list[FrameSpec]
    iter_codes(codes, plan, interp=, layer_mask=) -> iterator of [n_styles, 512] float32
    keyframe_path(codes, loop=, layer_mask=) -> the keyframes as shown, in the order visited

Frame counts (K keyframes, S = steps >= 2, H = hold >= 0); `frame_count` computes these:
    open chain   (K-1)*(S-1) + 1 + K*H      two images: exactly S frames, first = A, last = B
    --loop       K*(S-1)         + K*H      returns towards the first keyframe; the last frame is
                                            the one *before* it, so a looping player has no seam
    --pingpong   2*(K-1)*(S-1)   + 2*(K-1)*H  0 -> K-1 -> back towards 0, the turning keyframe is
                                            shown once, and like --loop the final return to 0 is
                                            left to the player (seamless when repeated); the way
                                            back is the way out's frames in reverse, the same specs
                                            (so the same codes, bit for bit); a --loop through two
                                            keyframes is the same path, and is planned so
Shared keyframes at the joins are shown once. `--hold H` adds H extra copies every time the path
reaches a keyframe (in --pingpong the middle keyframes are reached twice per cycle).
`first_showings(plan)` says which frames show a code an earlier frame already showed (hold copies,
the way back): `interp_cli.replay` draws those once and replays them.

Layer masks
    parse_layers(spec, n_styles) -> bool[n_styles]     "coarse", "middle", "fine", "all", "0-7", "0-3,8-17"
    (its syntax alone, before a model is loaded: interp_cli.layers.check_layers, without numpy)
    mix_codes(coarse_code, middle_code, fine_code, n_styles) -> [n_styles, 512]
Rows outside the mask stay at the first keyframe bit-for-bit. See `layer_groups` for how the
coarse/middle/fine split scales with the model's resolution.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from .checks import check_count, check_frame_chain, count_frames, whole_number
from .errors import UsageError, option
from .layers import layer_parts
from .limits import MAX_FRAMES, STEPS_WHY  # noqa: F401 - MAX_FRAMES: blend.MAX_FRAMES, as callers read it
from interp_cli.limits import EASINGS, INTERPS


ArrayOrFloat = Union[float, np.ndarray]


# --- time and easing -----------------------------------------------------------------------


def linear_times(steps: int) -> np.ndarray:
    """[steps] float64 times i / (steps - 1): exactly 0.0 first and exactly 1.0 last.

    `steps` counts both ends of a transition, so it must be at least 2. steps=1 is refused
    rather than guessed at (a one-frame "morph" would have to drop one of the two images).
    """
    steps = check_count("steps", steps, 2, STEPS_WHY)
    t = np.arange(steps, dtype=np.float64) / (steps - 1)
    t[-1] = 1.0  # already exact for i/(n-1) with i = n-1, but make the contract explicit
    return t


def ease(t: ArrayOrFloat, kind: str = "linear") -> ArrayOrFloat:
    """Map t in [0, 1] through an easing curve; same shape out (a float for a scalar in).

    All curves are monotonic non-decreasing with ease(0) == 0.0 and ease(1) == 1.0 exactly:
        linear  t
        smooth  3t^2 - 2t^3                       (smoothstep)
        cosine  (1 - cos(pi t)) / 2
        cubic   4t^3 for t < 1/2, else 1 - (2 - 2t)^3 / 2   (ease-in-out cubic)
    Values outside [0, 1] are clamped first.
    """
    if kind not in EASINGS:
        raise UsageError(f"unknown easing {kind!r} (choose {', '.join(EASINGS)})")
    x = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    if kind == "linear":
        y = x
    elif kind == "smooth":
        y = x * x * (3.0 - 2.0 * x)
    elif kind == "cosine":
        y = 0.5 * (1.0 - np.cos(np.pi * x))
    else:
        y = np.where(x < 0.5, 4.0 * x**3, 1.0 - (2.0 - 2.0 * x) ** 3 / 2.0)
    # Pin the ends so "first frame is exactly keyframe A" never depends on libm rounding,
    # and clip so rounding can never push an interior value past the ends.
    y = np.where(x <= 0.0, 0.0, np.where(x >= 1.0, 1.0, np.clip(y, 0.0, 1.0)))
    return float(y) if np.ndim(t) == 0 else y


_ease_curve = ease  # plan_frames' `ease=` keyword shadows the function inside it


# --- interpolation between two codes -------------------------------------------------------


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """(1 - t) * a + t * b, evaluated in float32 exactly in that order (golden tests depend on it).

    a, b: same shape (typically [n_styles, 512]); t: scalar. Returns float32, same shape.
    t == 0 gives a and t == 1 gives b bit-for-bit (for finite codes).
    """
    t32 = np.float32(t)
    return (np.float32(1.0) - t32) * _f32(a) + t32 * _f32(b)


def slerp(a: np.ndarray, b: np.ndarray, t: float, *, eps: float = 1e-6) -> np.ndarray:
    """Spherical interpolation per W+ row: [..., 512] float32 in and out.

    Each row's direction moves along the great circle from a's to b's, and its length moves
    linearly from |a| to |b|; for equal-length rows this is classic slerp and keeps the length.
    Rows that are (anti)parallel (sin of the angle below `eps`) or zero fall back to `lerp`,
    where the great circle is undefined. The sphere is centred on the origin of W.
    t == 0 / t == 1 return a / b exactly.
    """
    a, b = _f32(a), _f32(b)
    if a.shape != b.shape:
        raise ValueError(f"slerp: shapes differ, {a.shape} vs {b.shape}")
    t = float(t)
    if t == 0.0:
        return a.copy()
    if t == 1.0:
        return b.copy()
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na = np.linalg.norm(a64, axis=-1, keepdims=True)
    nb = np.linalg.norm(b64, axis=-1, keepdims=True)
    degenerate = (na == 0) | (nb == 0)
    ua = a64 / np.where(degenerate, 1.0, na)
    ub = b64 / np.where(degenerate, 1.0, nb)
    omega = np.arccos(np.clip(np.sum(ua * ub, axis=-1, keepdims=True), -1.0, 1.0))
    sin_omega = np.sin(omega)
    fallback = degenerate | (sin_omega < eps)
    safe_sin = np.where(fallback, 1.0, sin_omega)
    direction = (np.sin((1.0 - t) * omega) * ua + np.sin(t * omega) * ub) / safe_sin
    out = (direction * ((1.0 - t) * na + t * nb)).astype(np.float32)
    if np.any(fallback):
        rows = np.broadcast_to(fallback, out.shape)
        out = np.where(rows, lerp(a, b, t), out)
    return out


def catmull_rom(
    p0: Optional[np.ndarray], p1: np.ndarray, p2: np.ndarray, p3: Optional[np.ndarray], t: float
) -> np.ndarray:
    """Uniform Catmull-Rom segment from p1 (t=0) to p2 (t=1); float32 out, same shape as p1.

    p0 / p3 are the neighbouring keyframes. A missing neighbour (open end of a chain) is
    extrapolated linearly (p0 = 2 p1 - p2, p3 = 2 p2 - p1), which makes the end segments
    straight-line-at-constant-speed; with both missing the segment is exactly a lerp.
    Uniform (not centripetal) parameterisation: every segment gets the same frame count
    anyway, and it needs no distances, so repeated keyframes cannot divide by zero.
    Evaluated in float64; t == 0 / t == 1 return p1 / p2 exactly.
    """
    t = float(t)
    if t == 0.0:
        return _f32(p1).copy()
    if t == 1.0:
        return _f32(p2).copy()
    q1, q2 = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
    q0 = 2.0 * q1 - q2 if p0 is None else np.asarray(p0, np.float64)
    q3 = 2.0 * q2 - q1 if p3 is None else np.asarray(p3, np.float64)
    t2, t3 = t * t, t * t * t
    out = 0.5 * (
        2.0 * q1
        + (q2 - q0) * t
        + (2.0 * q0 - 5.0 * q1 + 4.0 * q2 - q3) * t2
        + (3.0 * q1 - q0 - 3.0 * q2 + q3) * t3
    )
    return out.astype(np.float32)


# --- keyframe chains -----------------------------------------------------------------------


@dataclass(frozen=True)
class FrameSpec:
    """What one output frame shows.

    A transition frame is keyframe `src` blended towards keyframe `dst` at eased local time `t`
    (`segment` numbers the transitions in play order; a --pingpong's way back is the way out's frames again,
    with their specs). `before` / `after` are the keyframes on
    either side of the transition along the path (spline neighbours; None at an open end).
    A hold frame (`hold=True`) repeats keyframe `src` (== `dst`, t == 0).
    """

    segment: int
    src: int
    dst: int
    t: float
    before: Optional[int] = None
    after: Optional[int] = None
    hold: bool = False

    @property
    def keyframe(self) -> Optional[int]:
        """The keyframe this frame shows exactly, or None for an in-between frame."""
        if self.t == 0.0:
            return self.src
        if self.t == 1.0:
            return self.dst
        return None


def frame_count(n_keyframes: int, steps: int, *, loop: bool = False, pingpong: bool = False, hold: int = 0) -> int:
    """Number of frames `plan_frames` produces (the formulas in the module docstring)."""
    return count_frames(*check_frame_chain(n_keyframes, steps, loop, pingpong, hold), loop, pingpong)


def plan_frames(
    n_keyframes: int,
    steps: int,
    *,
    loop: bool = False,
    pingpong: bool = False,
    hold: int = 0,
    ease: str = "linear",
) -> list[FrameSpec]:
    """The frame-by-frame schedule for a chain of keyframes (see the module docstring).

    `steps` is the frame count of one transition including both ends; `ease` reshapes the
    local time of every transition (each transition starts and ends exactly on its keyframes).
    The path visits 0, 1, ..., K-1, then with `loop` returns towards 0, with `pingpong` goes
    back down towards 0; closed paths (loop, pingpong) wrap around for spline neighbours, so
    a pingpong spline slows to a stop at its turning points and retraces the same curve.
    """
    k, s, h = check_frame_chain(n_keyframes, steps, loop, pingpong, hold)
    local_t = _ease_curve(linear_times(s), ease)
    if loop:
        path = list(range(k)) + [0]
    elif pingpong:
        path = list(range(k)) + list(range(k - 2, -1, -1))
    else:
        path = list(range(k))
    closed = loop or pingpong
    n_trans = len(path) - 1

    def neighbour(i: int) -> Optional[int]:
        # Index i along the path; closed paths wrap (path[-1] == path[0] is the seam itself).
        if closed:
            return path[i % n_trans]
        return path[i] if 0 <= i < len(path) else None

    plan: list[FrameSpec] = []
    # A loop through two keyframes goes there and back as a pingpong does (the same path), and is drawn so.
    back = pingpong or (loop and k == 2)
    arrivals, betweens = [], []  # per transition: keyframe `src` and its holds; the in-betweens
    for seg in range(k - 1 if back else n_trans):
        src, dst = path[seg], path[seg + 1]
        before, after = neighbour(seg - 1), neighbour(seg + 2)
        # Frame 0 of the transition is keyframe `src`, then its holds, then the in-betweens.
        arrivals.append([FrameSpec(seg, src, dst, 0.0, before, after)]
                        + [FrameSpec(seg, src, src, 0.0, hold=True) for _ in range(h)])
        betweens.append([FrameSpec(seg, src, dst, float(t), before, after) for t in local_t[1:-1]])
        plan.extend(arrivals[-1] + betweens[-1])
    if back:
        # The turning keyframe once (and its holds), then the way out backwards: its own specs, so the way back
        # shows the way out's codes bit for bit (computed from the other end, (1 - t) * b + t * a, they were
        # within float32 rounding of them, and rendered a level apart here and there).
        seg = k - 1
        plan.append(FrameSpec(seg, path[seg], path[seg + 1], 0.0, neighbour(seg - 1), neighbour(seg + 2)))
        plan.extend(FrameSpec(seg, path[seg], path[seg], 0.0, hold=True) for _ in range(h))
        for returning in range(k - 2, -1, -1):
            plan.extend(reversed(betweens[returning]))
            if returning:
                plan.extend(arrivals[returning])
    if not closed:
        last = n_trans - 1
        src, dst = path[-2], path[-1]
        plan.append(FrameSpec(last, src, dst, 1.0, neighbour(last - 1), None))
        plan.extend(FrameSpec(last, dst, dst, 0.0, hold=True) for _ in range(h))
    assert len(plan) == frame_count(k, s, loop=loop, pingpong=pingpong, hold=h)
    return plan


def first_showings(plan: Sequence[FrameSpec]) -> list[int]:
    """For each frame of `plan`, the index of the first frame that shows the same code (its own index when none
    before it does): a hold's copy shows its keyframe, a --pingpong's way back the way out's frames. The code a
    frame shows is a function of its spec (and of the codes, `interp` and the mask, which are the morph's), so
    equal specs, and frames of one keyframe, show equal codes, bit for bit, whatever `iter_codes` is given."""
    first: dict = {}
    return [first.setdefault(("keyframe", spec.keyframe) if spec.keyframe is not None else spec, i)
            for i, spec in enumerate(plan)]


def iter_codes(
    codes: np.ndarray,
    plan: Sequence[FrameSpec],
    interp: str = "lerp",
    layer_mask: Optional[np.ndarray] = None,
) -> Iterator[np.ndarray]:
    """Yield one fresh [n_styles, 512] float32 code per FrameSpec, lazily (one code in memory).

    codes: [K, n_styles, 512] keyframe codes. interp: "lerp" | "slerp" | "spline" (uniform
    Catmull-Rom through the keyframes; with exactly two keyframes it *is* lerp, loop or not).
    Keyframe and hold frames are copies of the keyframe, bit-for-bit, whatever `interp` is.
    layer_mask: bool[n_styles]; rows where it is False are copied from codes[0] bit-for-bit
    (so only the selected layers morph). Arguments are checked before the first frame.
    """
    if interp not in INTERPS:
        raise UsageError(f"unknown interpolation {interp!r} (choose {', '.join(INTERPS)})")
    codes = _f32(codes)
    if codes.ndim != 3:
        raise ValueError(f"codes must be [K, n_styles, 512], got shape {codes.shape}")
    n_keys, n_styles = codes.shape[0], codes.shape[1]
    used = max((max(f.src, f.dst) for f in plan), default=-1)
    if used >= n_keys:
        raise ValueError(f"plan uses keyframe {used} but only {n_keys} codes were given")
    keep = None
    if layer_mask is not None:
        mask = np.asarray(layer_mask, dtype=bool)
        if mask.shape != (n_styles,):
            raise ValueError(f"layer_mask must be bool[{n_styles}], got shape {mask.shape}")
        keep = None if mask.all() else ~mask
    return _iter_codes(codes, plan, interp, keep)


def _iter_codes(codes: np.ndarray, plan: Sequence[FrameSpec], interp: str, keep) -> Iterator[np.ndarray]:
    base = codes[0]
    for spec in plan:
        key = spec.keyframe
        a, b = codes[spec.src], codes[spec.dst]
        if key is not None:
            out = codes[key].copy()
        elif interp == "lerp" or (interp == "spline" and codes.shape[0] == 2):
            out = lerp(a, b, spec.t)
        elif interp == "slerp":
            out = slerp(a, b, spec.t)
        else:
            p0 = None if spec.before is None else codes[spec.before]
            p3 = None if spec.after is None else codes[spec.after]
            out = catmull_rom(p0, a, b, p3, spec.t)
        if keep is not None:
            out[keep] = base[keep]
        yield out


def keyframe_path(codes: np.ndarray, *, loop: bool = False, layer_mask: Optional[np.ndarray] = None) -> np.ndarray:
    """[P, n_styles, 512] float32: the keyframes in the order a morph visits them, as `iter_codes` shows them
    (rows outside `layer_mask` from codes[0]), with the return to the first for a `loop` ([a, b, c, a]).
    Consecutive pairs are the morph's segments; `--pingpong` runs the open chain's both ways, so it is that
    chain's path (what `--tune` keeps the in-betweens of as they were)."""
    shown = _f32(codes).copy()
    if layer_mask is not None and not np.asarray(layer_mask, dtype=bool).all():
        keep = ~np.asarray(layer_mask, dtype=bool)
        shown[:, keep] = shown[0, keep]
    return np.concatenate([shown, shown[:1]]) if loop else shown


# --- layers --------------------------------------------------------------------------------


def layer_groups(n_styles: int) -> dict[str, tuple[int, int]]:
    """Half-open row ranges {"coarse", "middle", "fine", "all"} for a model with n_styles rows.

    For the 1024 px model (18 rows) this is StyleGAN's split: coarse 0-3 (4-8 px), middle 4-7
    (16-32 px), fine 8-17. Other sizes keep the same *proportions* (4/18 and 8/18 of the rows),
    rounded to whole resolutions (rows come in pairs per resolution), each group non-empty:
        n_styles 10 (64 px):  coarse 0-1, middle 2-3, fine 4-9
        n_styles 12 (128 px): coarse 0-1, middle 2-5, fine 6-11
        n_styles 14 (256 px): coarse 0-3, middle 4-5, fine 6-13
        n_styles 16 (512 px): coarse 0-3, middle 4-7, fine 8-15
        n_styles 18 (1024 px): coarse 0-3, middle 4-7, fine 8-17
    """
    n = whole_number("n_styles", n_styles)
    if n < 3:
        raise ValueError(f"n_styles must be at least 3 to split into coarse/middle/fine, got {n}")
    coarse_end = max(1, 2 * math.floor(n / 9 + 0.5))
    middle_end = min(n - 1, max(coarse_end + 1, 2 * math.floor(2 * n / 9 + 0.5)))
    return {"coarse": (0, coarse_end), "middle": (coarse_end, middle_end), "fine": (middle_end, n), "all": (0, n)}


def parse_layers(spec: str, n_styles: int) -> np.ndarray:
    """bool[n_styles] from a spec like "coarse", "fine", "all", "5", "0-7", "0-3,8-17", "coarse,12-13".

    Comma-separated parts are unioned; ranges are inclusive; names are case-insensitive.
    Anything else (empty parts, reversed or out-of-range rows) is a one-line UsageError.
    """
    groups = layer_groups(n_styles)
    mask = np.zeros(n_styles, dtype=bool)
    text = str(spec)
    for part in layer_parts(text):
        if isinstance(part, str):
            lo, hi = groups[part]
            mask[lo:hi] = True
            continue
        lo, hi = part
        if hi >= n_styles:
            raise UsageError(
                f"{option('layers', text)}: row {hi} is out of range"
                f" (this model has {n_styles} style rows, 0-{n_styles - 1})"
            )
        mask[lo : hi + 1] = True
    return mask


def mix_codes(coarse_code: np.ndarray, middle_code: np.ndarray, fine_code: np.ndarray, n_styles: int) -> np.ndarray:
    """Style mixing: a [n_styles, 512] float32 code taking each group's rows from its own source.

    Rows are copied bit-for-bit; the groups are those of `layer_groups(n_styles)`.
    """
    sources = {"coarse": _f32(coarse_code), "middle": _f32(middle_code), "fine": _f32(fine_code)}
    for name, code in sources.items():
        if code.ndim != 2 or code.shape[0] != n_styles:
            raise ValueError(f"{name}_code must be [{n_styles}, 512], got shape {code.shape}")
    groups = layer_groups(n_styles)
    out = np.empty_like(sources["fine"])
    for name, code in sources.items():
        lo, hi = groups[name]
        out[lo:hi] = code[lo:hi]
    return out
