"""Render W+ codes to uint8 frames: device choice, batching, float -> uint8 on the device."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

from interp_cli.errors import UsageError
from interp_cli.models.stylegan2 import Generator

DEVICES = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str | None = "auto") -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then CPU; an explicit device must exist (UsageError otherwise)."""
    name = (name or "auto").lower()
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    base = name.split(":")[0]
    if base == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    if base == "mps" and not mps_ok:
        raise UsageError(f"--device {name}: Apple MPS is not available on this machine (use --device cpu)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name}: unknown device (choose {', '.join(DEVICES)})") from None


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """`[B, 3, H, W]` in [-1, 1] -> `[B, H, W, 3]` uint8: (x + 1) * 127.5, clipped and rounded on the device."""
    scaled = ((images.float() + 1) * 127.5).clamp_(0, 255).round_()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()


def _batches(codes: Iterable[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    batch: list[np.ndarray] = []
    for code in codes:
        batch.append(code)
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


@torch.no_grad()
def render_frames(generator: Generator, codes: Iterable[np.ndarray], *, batch_size: int = 4,
                  noise: Sequence[torch.Tensor | None] | None = None, truncation: float = 1.0,
                  truncation_latent: torch.Tensor | None = None) -> Iterator[np.ndarray]:
    """Stream frames `[H, W, 3]` uint8 for a stream of codes `[n_latent, D]`, `batch_size` at a time.

    Only one batch of codes and images is alive at once, so memory does not grow with the number
    of frames. `noise` is the per-layer noise shared by every frame (no flicker).
    """
    device = next(generator.parameters()).device
    if noise is None:
        noise = generator.make_noise("const", device=device)
    if truncation_latent is not None:
        truncation_latent = truncation_latent.to(device)
    for batch in _batches(codes, max(1, int(batch_size))):
        latent = torch.from_numpy(batch).to(device=device, dtype=torch.float32)
        images = generator(latent, noise=noise, truncation=truncation, truncation_latent=truncation_latent)
        yield from to_uint8(images)


def render_float(generator: Generator, code: np.ndarray, *, noise=None, truncation: float = 1.0,
                 truncation_latent: torch.Tensor | None = None) -> np.ndarray:
    """One code `[n_latent, D]` -> the raw float image `[3, H, W]` (no clipping), for `.npy` output."""
    device = next(generator.parameters()).device
    with torch.no_grad():
        latent = torch.from_numpy(np.ascontiguousarray(code, dtype=np.float32))[None].to(device)
        img = generator(latent, noise=noise, truncation=truncation, truncation_latent=truncation_latent)
    return img[0].float().cpu().numpy()
