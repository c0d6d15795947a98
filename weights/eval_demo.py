"""Measure the demo model from its checkpoint file, the way interp uses it.

The metrics go through `load_model` (so what is measured is the shipped file, float16 storage
included), Pillow preprocessing (`preprocess`, as the CLI does) and the checkpoint's constant noise:

- **psnr**: reconstruction PSNR (dB, images in [0, 1]) of held-out faces, encode -> render, averaged
  over the faces. Goal: >= 25 dB at 64x64.
- **sharpness_ratio**: for random held-out pairs (A, B), the mean gradient magnitude of the rendered
  midpoint `lerp(wA, wB, 0.5)` divided by the mean of the two endpoint frames' (A and B rendered from
  their codes), averaged over the pairs. A blurry in-between scores well under 1. Goal: >= 0.8.
- **midpoint_diff**: mean absolute difference between the midpoint frame and the closer endpoint
  frame (in [0, 1] units): the morph actually moves.
- **crossfade_distance**: mean |midpoint - (A + B) / 2| divided by mean |A - B|: 0 for a pixel
  cross-fade; a morph that moves shapes scores higher. (A cross-fade of two sharp images can still be
  sharp, so the sharpness ratio alone does not rule it out.)

Usage: `python -m weights.eval_demo [--weights interp_cli/data/demo.pt] [--n 200] [--pairs 50]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from interp_cli.files import sha256_of
from interp_cli.models.checkpoint import E4EModel, load_model
from interp_cli.models.e4e import preprocess
from interp_cli.weights import PRESETS, shipped_dir
from weights.demo_faces import HELDOUT_SEED, make_dataset

# The shipped demo model lives inside the package (interp_cli/data/), so that a wheel carries it.
DEFAULT_WEIGHTS = shipped_dir() / PRESETS["demo"].local_path
PAIR_SEED = 2024  # which held-out pairs are morphed: fixed, so every evaluation sees the same pairs


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] (roughly) -> clamped [0, 1]. Any shape."""
    return ((x + 1) / 2).clamp(0, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of `[B, C, H, W]` images in [0, 1] -> `[B]`."""
    mse = (a - b).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1 / mse)


def sharpness(img: torch.Tensor) -> torch.Tensor:
    """Mean gradient magnitude of the luminance of `[B, 3, H, W]` images in [0, 1] -> `[B]`.

    Forward differences on the (H-1) x (W-1) grid where both exist.
    """
    y = 0.299 * img[:, 0] + 0.587 * img[:, 1] + 0.114 * img[:, 2]
    gx = y[:, :-1, 1:] - y[:, :-1, :-1]
    gy = y[:, 1:, :-1] - y[:, :-1, :-1]
    return torch.sqrt(gx * gx + gy * gy + 1e-12).flatten(1).mean(1)


def heldout_pairs(n_images: int, n_pairs: int, seed: int = PAIR_SEED) -> np.ndarray:
    """`[n_pairs, 2]` index pairs (i != j) into the held-out faces, the same for every run."""
    rng = np.random.default_rng(seed)
    pairs = np.empty((n_pairs, 2), np.int64)
    for k in range(n_pairs):
        pairs[k] = rng.choice(n_images, size=2, replace=False)
    return pairs


def preprocess_batch(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 `[B, H, W, 3]` -> encoder input `[B, 3, size, size]` through the CLI's Pillow preprocessing."""
    return torch.cat([preprocess(Image.fromarray(img), size) for img in images], dim=0)


@torch.no_grad()
def encode(model: E4EModel, images: np.ndarray, batch: int = 50) -> torch.Tensor:
    """uint8 `[B, H, W, 3]` -> W+ codes `[B, n_latent, D]` (latent_avg included), on the model's device."""
    device = model.generator.input.input.device
    codes = [model.encode(preprocess_batch(images[i:i + batch], model.encoder_input_size).to(device))
             for i in range(0, len(images), batch)]
    return torch.cat(codes, dim=0)


@torch.no_grad()
def render(model: E4EModel, codes: torch.Tensor, batch: int = 50) -> torch.Tensor:
    """W+ codes `[B, n_latent, D]` -> images `[B, 3, S, S]` in [0, 1] (constant noise, as the CLI's default)."""
    noise = model.generator.make_noise("const")
    return torch.cat([to_unit(model.generator(codes[i:i + batch], noise=noise))
                      for i in range(0, len(codes), batch)], dim=0)


def evaluate(model: E4EModel, images: np.ndarray, n_pairs: int = 50) -> dict:
    """All metrics (see the module docstring) of `model` on held-out uint8 faces `[N, H, W, 3]`."""
    target = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    codes = encode(model, images)
    recon = render(model, codes).cpu()
    if recon.shape[-1] != target.shape[-1]:
        target = torch.nn.functional.interpolate(target, size=recon.shape[-2:], mode="area")
    image_psnr = psnr(recon, target)

    pairs = torch.from_numpy(heldout_pairs(len(images), n_pairs))
    mid = render(model, torch.lerp(codes[pairs[:, 0]], codes[pairs[:, 1]], 0.5)).cpu()
    end_a, end_b = recon[pairs[:, 0]], recon[pairs[:, 1]]
    ratio = sharpness(mid) / ((sharpness(end_a) + sharpness(end_b)) / 2)
    diff_a = (mid - end_a).abs().flatten(1).mean(1)
    diff_b = (mid - end_b).abs().flatten(1).mean(1)
    crossfade = (mid - (end_a + end_b) / 2).abs().flatten(1).mean(1) / (end_a - end_b).abs().flatten(1).mean(1)
    return {
        "n_images": len(images),
        "n_pairs": n_pairs,
        "psnr": round(float(image_psnr.mean()), 3),
        "psnr_min": round(float(image_psnr.min()), 3),
        "sharpness_ratio": round(float(ratio.mean()), 4),
        "sharpness_ratio_min": round(float(ratio.min()), 4),
        "midpoint_diff": round(float(torch.minimum(diff_a, diff_b).mean()), 4),
        "crossfade_distance": round(float(crossfade.mean()), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Recompute the demo model's metrics from a checkpoint (CPU).")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                        help="checkpoint file (default: interp_cli/data/demo.pt)")
    parser.add_argument("--n", type=int, default=200, help="held-out faces for the PSNR")
    parser.add_argument("--pairs", type=int, default=50, help="held-out pairs for the midpoint sharpness")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = load_model(args.weights)
    images = make_dataset(args.n, HELDOUT_SEED, size=model.size)
    result = {"weights": str(args.weights), "size": Path(args.weights).stat().st_size,
              "sha256": sha256_of(args.weights)}
    result.update(evaluate(model, images, args.pairs))
    stored = model.meta.get("train", {})
    if stored:
        result["stored"] = {k: stored.get(k) for k in ("psnr", "sharpness_ratio")}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
