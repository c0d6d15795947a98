"""How well a code reproduces its photo: PSNR and SSIM of the rendered code against the encoder's crop.

A morph's in-betweens only look like the people in the photos if both ends were reconstructed
well, and a poor inversion is the commonest disappointment with StyleGAN morphs. Both images are
uint8 `[H, W, 3]` at the generator's resolution: the render of the code (no truncation, with the
noise the command draws with: const for `encode`, a morph's own --noise; in a morph, its own frame
of that code, before --size and --paste) and the aligned crop the encoder saw, resized the way the encoder's input is
(`interp_cli.models.e4e.preprocess`). Where dlib is installed, an identity distance too
(`interp_cli.identity`): a reconstruction that is not the person is poor whatever its PSNR.

`POOR_PSNR_DB` is the warning threshold; `benchmarks/bench_likeness.py` measures where it sits.

After `--tune` each photo is measured twice: with the tuned copy (the morph's ends, `psnr`) and with
the loaded generator (`untuned_psnr`). Whether the model can draw the face at all ("poor") is judged
on the untuned one, which is what the threshold was calibrated on: tuning copies the photo into the
ends (a demo-model render of a news photo went from 15 to 21-23 dB) but every frame between them is
still the model's own drawing. A tuned end worse than untuned by more than `TUNE_LOSS_DB` is warned
about too (`tuning_warning`).
"""

from __future__ import annotations

import math

import numpy as np

from interp_cli import identity
from interp_cli.errors import option
from interp_cli.names import line_text

# Below this PSNR a reconstruction is called poor. Measured on the demo model with
# benchmarks/bench_likeness.py: 200 held-out demo faces scored 19.5-29.6 dB (5th percentile 22.4,
# none below 18); real news photos, which the cartoon model cannot draw, 11.4-13.2 dB; 28 of 48
# non-face images fell below 18 dB (all 4 checkerboards, 15 of 16 face-free photo patches, 5 of
# 12 stripe patterns, black, white, gradients). The other 20 are smooth or low-contrast once shrunk
# to the model's 64 px (uniform noise averages out to grey; blurred noise, grey, wide stripes): a
# blurry render matches them to 18.9-24.5 dB, and no PSNR floor tells them from faces. SSIM is
# reported but does not warn: it has not been measured on real photos. Not calibrated on the FFHQ
# model (never downloaded in this project's tests).
POOR_PSNR_DB = 18.0
# A tuned end more than this much below its untuned PSNR is warned about. Tuning one copy of the
# generator on all the inputs with a locality term may cost a well-drawn face a little when its partner
# is hard; 0.5 dB (12% more squared error) is about where a difference becomes visible side by side,
# and is well above the run-to-run spread of tuning on a CPU (deterministic: 0) and the rounding of the
# report (0.01 dB). On the examples a bare --tune gains 3-4 dB, so no good pair comes near it; demo_a.png
# beside a black-and-white stripes image lost 6.5 dB at --tune 10, 2.4 dB at --tune 50, and gained
# 1.4 dB at --tune 200 (tests/test_likeness.py).
TUNE_LOSS_DB = 0.5
MAX_PSNR_DB = 100.0  # identical images: reported as this, not infinity (JSON has no infinity)

_SSIM_WINDOW = 11    # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03
_SSIM_SIGMA = 1.5


def _planes(image: np.ndarray, factor: int) -> np.ndarray:
    """uint8 `[H, W, 3]` -> float64 `[3, H // factor, W // factor]` in [0, 1], each pixel the mean of
    its `factor` x `factor` block (trailing rows and columns that do not fill a block are dropped).

    The block sums are taken in integers, so the result is exact whatever the factor: strided rows
    added, then strided columns (a tenth of the time of a sum over reshaped axes at 1024 px)."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an [H, W, 3] image, got shape {list(array.shape)}")
    if factor == 1:
        return array.transpose(2, 0, 1).astype(np.float64) / 255.0
    h, w = array.shape[0] // factor, array.shape[1] // factor
    block = array[:h * factor, :w * factor]
    wide = np.uint16 if factor * factor * 255 <= np.iinfo(np.uint16).max else np.uint32
    rows = block[0::factor].astype(wide)
    for k in range(1, factor):
        rows += block[k::factor]
    columns = rows.reshape(h, w, factor, 3)
    sums = columns[:, :, 0].copy()
    for k in range(1, factor):
        sums += columns[:, :, k]
    return sums.transpose(2, 0, 1).astype(np.float64) / (255.0 * factor * factor)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 `[H, W, 3]` images (peak 255), capped at `MAX_PSNR_DB`."""
    if np.shape(a) != np.shape(b):
        raise ValueError(f"images differ in shape: {list(np.shape(a))} vs {list(np.shape(b))}")
    diff = np.asarray(a, np.int32) - np.asarray(b, np.int32)
    mse = float(np.mean(diff * diff))
    return MAX_PSNR_DB if mse == 0 else min(MAX_PSNR_DB, 10 * math.log10(255.0 ** 2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004) of two uint8 `[H, W, 3]` images, mean over channels.

    Gaussian-weighted local statistics (11x11, sigma 1.5, K1 0.01, K2 0.03) over the positions
    where the window fits. Images larger than 256 px are first averaged down by the whole factor
    round(min(H, W) / 256), as the authors' reference implementation does, so the window sees
    structure at the scale a viewer does (and a 1024 px SSIM costs a 256 px one). Images smaller
    than the window use a window of their own size.

    NumPy, single-threaded: on torch these small ops cost more in waking its thread pool than in
    arithmetic (0.2-0.4 s at 1024 px on 2 busy cores, against 0.07 s here; benchmarks/README.md).
    """
    if np.shape(a) != np.shape(b):
        raise ValueError(f"images differ in shape: {list(np.shape(a))} vs {list(np.shape(b))}")
    factor = max(1, round(min(np.shape(a)[:2]) / 256))
    x, y = _planes(a, factor), _planes(b, factor)
    size = min(_SSIM_WINDOW, x.shape[-1], x.shape[-2])
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(coords ** 2) / (2 * _SSIM_SIGMA ** 2))
    weights = (g / g.sum()).tolist()
    mx, my, xx, yy, xy = _blur(np.stack([x, y, x * x, y * y, x * y]), weights)
    vx, vy, cxy = xx - mx * mx, yy - my * my, xy - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def _blur(t: np.ndarray, weights: list[float]) -> np.ndarray:
    """Separable filter over the last two axes, valid positions only: each axis's windows (a strided
    view, nothing copied) times the weights, one matmul per axis (a third of the time of adding
    shifted slices, the same sums to 1e-15)."""
    from numpy.lib.stride_tricks import sliding_window_view

    kernel = np.asarray(weights, dtype=t.dtype)
    for axis in (t.ndim - 1, t.ndim - 2):
        t = sliding_window_view(t, len(kernel), axis=axis) @ kernel
    return t


def measure(rendered: np.ndarray, target: np.ndarray) -> dict:
    """`{"psnr": dB, "ssim": ..., "identity": distance or None, "identity_note": ..., "poor": bool}` for
    a rendered code against its target crop (identity: see `interp_cli.identity`)."""
    return measure_many([(rendered, target)])[0]


def measure_many(pairs, log=None) -> list[dict]:
    """`measure` for each (rendered, target) pair; the identity network describes every face in one pass
    (`log`: where the landmark model's warning goes when the identity check is the first to load it)."""
    identities = identity.measure_many([(target, rendered) for rendered, target in pairs], log=log)
    entries = []
    for (rendered, target), who in zip(pairs, identities):
        p = psnr(rendered, target)
        entry = {"psnr": round(p, 2), "ssim": round(ssim(rendered, target), 4), **who}
        entry["poor"] = p < POOR_PSNR_DB or identity.unlike(entry)
        entries.append(entry)
    return entries


def judge_tuned(entry: dict, untuned_psnr: float) -> dict:
    """`entry` (measured with the tuned copy) with `untuned_psnr` added and "poor" judged again: the
    model cannot draw the photo when its *untuned* code is poor (or the tuned end is: tuning made it
    worse), or the reconstruction is not the person."""
    entry["untuned_psnr"] = round(untuned_psnr, 2)
    entry["poor"] = min(entry["psnr"], untuned_psnr) < POOR_PSNR_DB or identity.unlike(entry)
    return entry


def warning(name: str, entry: dict, *, demo: bool = False, refined: int = 0, suggest_tune: bool = True,
            tuned: int = 0) -> str:
    """The one-line warning for a poor reconstruction, with advice that can help in this context.

    `demo`: the code came from the demo model, which can only draw the cartoon faces it was trained
    on; a real photo stays a cartoon blur whatever --refine does to the PSNR, so it is pointed at
    the photo model instead. `refined`: the --refine steps already taken (no advice to take them again).
    `suggest_tune`: whether the command at hand has `--tune` (`encode` has none); `tuned`: the --tune
    steps already taken. After --tune (`entry["untuned_psnr"]` set) the verdict is on the untuned code,
    which more tuning does not change, so no more of it is offered.
    """
    reasons = []
    untuned = entry.get("untuned_psnr")
    if untuned is not None and untuned < POOR_PSNR_DB:
        reasons.append(f"the model cannot draw this photo ({untuned:.1f} dB PSNR before {option('tune')}, below "
                       f"{POOR_PSNR_DB:.0f}; {entry['psnr']:.1f} dB after, but tuning fits only the ends, not the "
                       f"frames between them)")
    elif entry["psnr"] < POOR_PSNR_DB:
        after = f" after {option('tune')}" if untuned is not None else ""
        reasons.append(f"the code reproduces this photo poorly{after} ({entry['psnr']:.1f} dB PSNR, below "
                       f"{POOR_PSNR_DB:.0f})")
    if identity.unlike(entry):
        reasons.append(identity.reason(entry))
    head = f"warning: {name}: {' and '.join(reasons)}"
    if demo:
        return (f"{head}: the demo model only knows the cartoon faces it was trained on (like "
                f"examples/demo_a.png) and cannot draw this image; for real photos use {option('weights', 'ffhq')}")
    tips = []
    if suggest_tune and not tuned:
        tips.append(option("tune", True))
    if refined < 100:
        tips.append(option("refine", 100))
    advice = f"try {', '.join(tips)}, or a clearer frontal photo" if tips else "try a clearer frontal photo"
    return f"{head}, so the morph may not look like this person; {advice}"


MORE_TUNING = 200  # what a warning after a shorter --tune offers: four times the default's steps


def tuning_warning(name: str, entry: dict, others: list[tuple[str, dict]], *, tuned: int) -> str | None:
    """The warning for a photo whose tuned end is worse than its untuned one by over `TUNE_LOSS_DB`, or None.

    One copy of the generator is tuned to every input at once, so an input the model cannot draw pulls
    the shared weights toward itself and away from the others' ends; early in tuning that costs them
    (measured: demo_a.png beside a stripes image, 27.5 dB untuned, 20.9 at --tune 10, 25.1 at 50), and
    longer tuning fits both (28.9 at --tune 200). Fewer steps do not help. `others`: the other inputs'
    (name, entry), to name the one the model draws worst."""
    untuned = entry.get("untuned_psnr")
    if untuned is None or entry["psnr"] is None or entry["psnr"] >= untuned - TUNE_LOSS_DB:
        return None
    hard = [(e["untuned_psnr"], n) for n, e in others if e.get("untuned_psnr") is not None
            and e["untuned_psnr"] < POOR_PSNR_DB]
    pulled = f", and {min(hard)[1]} ({min(hard)[0]:.1f} dB untuned), which the model cannot draw, pulls it away" \
        if hard else ""
    without = f"morph without {option('tune')}" + (f", or without {min(hard)[1]}" if hard else "")
    advice = (f"try {option('tune', MORE_TUNING)} (longer tuning fits every input), or {without}"
              if tuned < MORE_TUNING else without)
    return (f"warning: {name}: {option('tune')} made this end less like its photo ({untuned:.1f} dB PSNR untuned, "
            f"{entry['psnr']:.1f} dB tuned): one copy of the generator is tuned to all the inputs at once{pulled}; "
            f"{advice}")


def describe(entries: list[dict]) -> str:
    """One line for the human summary, e.g. `likeness: a.png 25.1 dB SSIM 0.83, b.npy (a code)`."""
    parts = []
    for entry in entries:
        name = line_text(entry["input"].replace("\\", "/").rsplit("/", 1)[-1])
        if entry["psnr"] is None:
            parts.append(f"{name} (a code, no photo)")
        else:
            poor = " (poor)" if entry["poor"] else ""
            if entry.get("untuned_psnr") is not None:
                poor = f" ({entry['untuned_psnr']:.1f} dB untuned){poor}"
            ssim_shown = round(entry["ssim"], 2) + 0.0  # + 0.0: no "-0.00"
            parts.append(f"{name} {entry['psnr']:.1f} dB SSIM {ssim_shown:.2f}{identity.describe(entry)}{poor}")
    return "likeness: " + ", ".join(parts)
