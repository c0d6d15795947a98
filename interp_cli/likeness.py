"""How well a code reproduces its photo: PSNR and SSIM of the rendered code against the encoder's crop.

A morph's in-betweens only look like the people in the photos if both ends were reconstructed
well, and a poor inversion is the commonest disappointment with StyleGAN morphs. Both images are
uint8 `[H, W, 3]` at the generator's resolution: the render of the code (const noise, no
truncation, as `interp render` draws it) and the aligned crop the encoder saw, resized the way the
encoder's input is (`interp_cli.models.e4e.preprocess`).

`POOR_PSNR_DB` is the warning threshold; `benchmarks/bench_likeness.py` measures where it sits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

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
MAX_PSNR_DB = 100.0  # identical images: reported as this, not infinity (JSON has no infinity)

_SSIM_WINDOW = 11    # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03
_SSIM_SIGMA = 1.5


def _unit(image: np.ndarray) -> torch.Tensor:
    """uint8 `[H, W, 3]` -> float64 `[1, 3, H, W]` in [0, 1]."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an [H, W, 3] image, got shape {list(array.shape)}")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64) / 255.0).permute(2, 0, 1)[None]


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
    """
    if np.shape(a) != np.shape(b):
        raise ValueError(f"images differ in shape: {list(np.shape(a))} vs {list(np.shape(b))}")
    x, y = _unit(a), _unit(b)
    factor = max(1, round(min(x.shape[-2:]) / 256))
    if factor > 1:
        x, y = F.avg_pool2d(x, factor), F.avg_pool2d(y, factor)
    size = min(_SSIM_WINDOW, x.shape[-1], x.shape[-2])
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * _SSIM_SIGMA ** 2))
    weights = (g / g.sum()).tolist()
    stats = _blur(torch.cat([x, y, x * x, y * y, x * y]), weights)
    mx, my, xx, yy, xy = stats.chunk(5)
    vx, vy, cxy = xx - mx * mx, yy - my * my, xy - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def _blur(t: torch.Tensor, weights: list[float]) -> torch.Tensor:
    """Separable filter over the last two axes, valid positions only: shifted slices added in place
    (a depthwise conv2d was 5-10x slower on CPU)."""
    n = len(weights)
    for axis in (-1, -2):
        length = t.shape[axis] - n + 1
        out = t.narrow(axis, 0, length) * weights[0]
        for k in range(1, n):
            out.add_(t.narrow(axis, k, length), alpha=weights[k])
        t = out
    return t


def measure(rendered: np.ndarray, target: np.ndarray) -> dict:
    """`{"psnr": dB, "ssim": ..., "poor": bool}` for a rendered code against its target crop."""
    p = psnr(rendered, target)
    return {"psnr": round(p, 2), "ssim": round(ssim(rendered, target), 4), "poor": p < POOR_PSNR_DB}


def warning(name: str, entry: dict, advice: str = "try --refine 100, or a clearer frontal photo") -> str:
    """The one-line warning for a poor reconstruction, ending in `advice` (what the command printing it offers)."""
    return (f"warning: {name}: the code reproduces this photo poorly ({entry['psnr']:.1f} dB PSNR, below "
            f"{POOR_PSNR_DB:.0f}), so the morph may not look like this person; {advice}")


def describe(entries: list[dict]) -> str:
    """One line for the human summary, e.g. `likeness: a.png 25.1 dB SSIM 0.83, b.npy (a code)`."""
    parts = []
    for entry in entries:
        name = entry["input"].replace("\\", "/").rsplit("/", 1)[-1]
        if entry["psnr"] is None:
            parts.append(f"{name} (a code, no photo)")
        else:
            poor = " (poor)" if entry["poor"] else ""
            ssim_shown = round(entry["ssim"], 2) + 0.0  # + 0.0: no "-0.00"
            parts.append(f"{name} {entry['psnr']:.1f} dB SSIM {ssim_shown:.2f}{poor}")
    return "likeness: " + ", ".join(parts)
