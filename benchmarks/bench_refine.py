"""Measure `--refine N` on the demo model: fidelity gained, time spent, and whether morphs stay sharp.

For `--n` held-out procedural faces (`weights/demo_faces.py`, a data-set seed far from the
training seed), each face is encoded with e4e and then refined for every N in `--steps`.
Per N it reports, averaged over the faces:

- PSNR (dB) of the rendered face against the face itself, at the generator's resolution;
- SSIM (Gaussian 11x11 window, sigma 1.5) and the Laplacian-pyramid L1 distance (GLO), two
  perceptual proxies: SSIM compares local structure, the pyramid distance per-band detail;
- seconds per image on this machine (each face refined alone, batch 1, as the CLI does);
- midpoint sharpness: faces are paired (0,1), (2,3), ...; for each pair the frame rendered
  from lerp(wA, wB, 0.5) is compared with the two endpoint frames by mean gradient magnitude.
  A ratio near 1 means the in-between is as crisp as the ends; a refined code that left the
  generator's well-trodden region would give a washed-out or broken midpoint instead.

The goal of issue 8: >= 3 dB PSNR over e4e at N = 100, midpoint ratio >= 0.8 there.

    .venv/bin/python benchmarks/bench_refine.py                      # the table, default settings
    .venv/bin/python benchmarks/bench_refine.py --steps 100 --lr 0.1 --reg 0  # try other settings
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interp_cli import refine  # noqa: E402
from interp_cli.models.checkpoint import load_model  # noqa: E402
from interp_cli.models.e4e import preprocess  # noqa: E402

HELDOUT_SEED = 10_000_000  # far from the demo model's training seed (0) and its own held-out seed (1)
GOAL_PSNR_GAIN = 3.0
GOAL_MIDPOINT = 0.8


# --------------------------------------------------------------------------- metrics

def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images in [-1, 1]: `[B, 3, H, W]` x2 -> `[B]` (peak = the [0, 1] range)."""
    mse = ((x.clamp(-1, 1) - y) / 2).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004) per image, `[B, 3, H, W]` in [-1, 1] -> `[B]`.

    Computed on [0, 1] intensities per channel with a Gaussian window and no padding (only
    windows that lie fully inside the image count), constants K1 = 0.01, K2 = 0.03.
    """
    x = (x.clamp(-1, 1) + 1) / 2
    y = (y + 1) / 2
    coords = torch.arange(window, dtype=x.dtype) - (window - 1) / 2
    g = torch.exp(-coords.pow(2) / (2 * sigma ** 2))
    g = (g / g.sum()).to(x.device)
    kernel = (g[:, None] * g[None, :]).expand(x.shape[1], 1, window, window)

    def filt(t):
        return F.conv2d(t, kernel, groups=x.shape[1])

    mu_x, mu_y = filt(x), filt(y)
    var_x = filt(x * x) - mu_x ** 2
    var_y = filt(y * y) - mu_y ** 2
    cov = filt(x * y) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1)


def sharpness(img: torch.Tensor) -> torch.Tensor:
    """Mean gradient magnitude of the luminance, `[B, 3, H, W]` in [-1, 1] -> `[B]`."""
    lum = (0.299 * img[:, 0] + 0.587 * img[:, 1] + 0.114 * img[:, 2]).clamp(-1, 1)
    dx = lum[:, :-1, 1:] - lum[:, :-1, :-1]
    dy = lum[:, 1:, :-1] - lum[:, :-1, :-1]
    return (dx.pow(2) + dy.pow(2)).sqrt().flatten(1).mean(1)


# --------------------------------------------------------------------------- pipeline pieces

def load_faces(n: int, seed: int) -> np.ndarray:
    from weights import demo_faces  # a namespace package next to the checkpoint, not part of interp_cli

    return demo_faces.make_dataset(n, seed=seed, workers=1)


@torch.no_grad()
def encode(model, faces: np.ndarray) -> torch.Tensor:
    """uint8 faces `[n, H, W, 3]` -> e4e W+ codes `[n, n_latent, D]`, via the encoder's own preprocessing."""
    from PIL import Image

    x = torch.cat([preprocess(Image.fromarray(f), model.encoder_input_size) for f in faces])
    return torch.cat([model.encode(x[i:i + 8]) for i in range(0, len(x), 8)])


def to_targets(faces: np.ndarray, size: int) -> torch.Tensor:
    """uint8 `[n, H, W, 3]` -> float `[n, 3, size, size]` in [-1, 1] (area-resized if needed)."""
    t = torch.from_numpy(faces.copy()).permute(0, 3, 1, 2).float() / 127.5 - 1
    if t.shape[-1] != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return t


@torch.no_grad()
def render(generator, codes: torch.Tensor, noise) -> torch.Tensor:
    return torch.cat([generator(codes[i:i + 8], noise=noise) for i in range(0, len(codes), 8)])


@torch.no_grad()
def evaluate(generator, codes: torch.Tensor, targets: torch.Tensor, noise) -> dict:
    """Fidelity and morph-midpoint metrics of `codes` `[n, L, D]` against `targets` `[n, 3, S, S]`."""
    images = render(generator, codes, noise)
    pairs = len(codes) // 2
    a, b = codes[0:2 * pairs:2], codes[1:2 * pairs:2]
    mid = render(generator, torch.lerp(a, b, 0.5), noise)
    ends = sharpness(images[:2 * pairs]).view(pairs, 2).mean(1)
    ratio = sharpness(mid) / ends
    return {
        "psnr": psnr(images, targets).mean().item(),
        "ssim": ssim(images, targets).mean().item(),
        "lap_l1": refine.laplacian_loss(images.clamp(-1, 1), targets).item(),
        "sharp": sharpness(images).mean().item(),
        "mid_ratio": ratio.mean().item(),
        "mid_ratio_min": ratio.min().item(),
        "dist": None,
    }


def run_refine(generator, targets, init, noise, steps, args) -> tuple[torch.Tensor, float]:
    """Refine each face alone (batch 1, as the CLI does); returns codes and seconds per image."""
    out = []
    start = time.perf_counter()
    for i in range(len(init)):
        out.append(refine.refine_codes(generator, targets[i:i + 1], init[i:i + 1], steps=steps, loss=args.loss,
                                       lr=args.lr, reg=args.reg, noise=noise, seed=0))
    return torch.cat(out), (time.perf_counter() - start) / len(init)


# --------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(ROOT / "interp_cli" / "data" / "demo.pt"),
                        help="e4e-layout checkpoint")
    parser.add_argument("--n", type=int, default=20, help="held-out faces (even: they are paired for morphs)")
    parser.add_argument("--seed", type=int, default=HELDOUT_SEED, help="data-set seed of the held-out faces")
    parser.add_argument("--steps", default="50,100,200", help="comma-separated N values")
    parser.add_argument("--loss", default=refine.DEFAULT_LOSS, choices=refine.LOSSES)
    parser.add_argument("--lr", type=float, default=refine.DEFAULT_LR)
    parser.add_argument("--reg", type=float, default=refine.DEFAULT_REG)
    parser.add_argument("--noise", default="const", choices=("const", "random", "none"),
                        help="noise mode held fixed during refinement and rendering")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.n < 2:  # one face makes no pair: the morph metrics failed in torch.cat, with a traceback
        parser.error(f"--n {args.n}: at least 2 faces (they are paired for morphs)")

    if args.threads:
        torch.set_num_threads(args.threads)
    weights = Path(args.weights)
    if not weights.is_file():
        print(f"{weights} does not exist yet: build the demo model first (make demo-weights)", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    model = load_model(weights)
    faces = load_faces(args.n, args.seed)
    init = encode(model, faces).to(device)
    model.drop_encoder()
    generator = model.generator.to(device)
    targets = to_targets(faces, generator.size).to(device)
    noise = generator.make_noise(args.noise, seed=0, device=device)
    steps_list = [int(s) for s in args.steps.split(",") if s.strip()]

    print(f"model {weights.name}: {generator.size}x{generator.size}, W+ {generator.n_latent}x{generator.style_dim}; "
          f"{args.n} faces (seed {args.seed}); loss {args.loss}, lr {args.lr}, reg {args.reg}, noise {args.noise}, "
          f"{torch.get_num_threads()} threads on {device}", flush=True)
    rows = [("e4e", 0, evaluate(generator, init, targets, noise), 0.0)]
    rows[0][2]["dist"] = 0.0
    for steps in steps_list:
        codes, seconds = run_refine(generator, targets, init, noise, steps, args)
        metrics = evaluate(generator, codes, targets, noise)
        metrics["dist"] = (codes - init).pow(2).mean().item()
        rows.append((f"N={steps}", steps, metrics, seconds))
        print(f"  done N={steps}: {seconds:.2f} s/image, PSNR {metrics['psnr']:.2f} dB", file=sys.stderr, flush=True)

    base = rows[0][2]
    target_sharp = sharpness(targets).mean().item()
    print()
    print("| codes | PSNR dB | gain dB | SSIM | Lap-L1 | s/image | sharpness | midpoint ratio (min) | mean (w-w0)^2 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, _, m, seconds in rows:
        print(f"| {name} | {m['psnr']:.2f} | {m['psnr'] - base['psnr']:+.2f} | {m['ssim']:.3f} | {m['lap_l1']:.4f} | "
              f"{seconds:.2f} | {m['sharp']:.4f} | {m['mid_ratio']:.3f} ({m['mid_ratio_min']:.3f}) | "
              f"{m['dist']:.4f} |")
    print(f"| targets | | | 1.000 | 0 | | {target_sharp:.4f} | | |")

    verdict = 0
    at100 = next((m for name, s, m, _ in rows if s == 100), None)
    if at100 is not None:
        gain = at100["psnr"] - base["psnr"]
        ok = gain >= GOAL_PSNR_GAIN and at100["mid_ratio"] >= GOAL_MIDPOINT
        print(f"\nN=100: PSNR gain {gain:+.2f} dB (goal >= {GOAL_PSNR_GAIN}), midpoint ratio "
              f"{at100['mid_ratio']:.3f} (goal >= {GOAL_MIDPOINT}): {'PASS' if ok else 'FAIL'}")
        verdict = 0 if ok else 1
    if args.json:
        Path(args.json).write_text(json.dumps({
            "weights": str(weights), "n": args.n, "seed": args.seed, "loss": args.loss, "lr": args.lr,
            "reg": args.reg, "noise": args.noise, "threads": torch.get_num_threads(), "device": str(device),
            "rows": [{"codes": name, "steps": s, "seconds_per_image": sec, **m} for name, s, m, sec in rows],
        }, indent=2))
    return verdict


if __name__ == "__main__":
    sys.exit(main())
