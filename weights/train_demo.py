"""Train the demo model: a small StyleGAN2 generator + e4e encoder on procedural cartoon faces (64x64).

Recipe (one run, from scratch, generator and encoder trained together):

- **Autoencoder**: a face x is encoded to W+ = latent_avg + E(x) (e4e's layout: row 0 is w0, rows 1..
  add deltas) and rendered back, `x_rec = G(W+)`. Loss: L2 + Laplacian-pyramid L1 (the pyramid
  weighs edges at every scale, which plain L2 blurs), plus a small penalty on the deltas so every code
  stays close to a single W, where linear interpolation stays on the learned face manifold.
- **In-betweens**: codes of two faces are blended, `lerp(wA, wB, a)` with a random a, and rendered.
  Nothing reconstructs those images, so a small discriminator (non-saturating loss, lazy R1) is the
  signal that keeps them sharp, face-like images instead of blurry cross-fades.
- **Mapping network**: z -> W samples are rendered too and shown to the same discriminator, and the
  mapping output's per-dimension mean / std is pulled towards the encoded codes', so z-sampling gives
  faces and `latent_avg` (an EMA of the mapping output, as StyleGAN keeps it) is the average face.
- The adversarial gradient has a fixed size: on its way back from the discriminator it is rescaled
  to a root-mean-square of `--adv-weight / (B * pixels)` per pixel, i.e. `--adv-weight` times the
  per-pixel gradient of an L1 loss on the batch. Only its direction comes from the discriminator, so a
  confident discriminator can never drown the reconstruction (a loss weight, adaptive or not, lets
  the adversarial gradient grow by orders of magnitude within a few steps). It starts after
  `--adv-start` of the run, once faces reconstruct, and ramps up over the next 5%.
- EMA copies of generator and encoder are what is saved (the encoder's batch-norm statistics are
  recomputed for the EMA weights), stored as float16 to keep the file small (`load_model` converts).

The run stops after `--minutes` of wall time (or `--steps`), then measures the saved file through
`load_model` (see `weights/eval_demo.py`) and writes `--out` (default `weights/demo.pt`) plus the
sha256/size JSON next to it (`demo.json`). Learning-rate decay and the adversarial start follow the
fraction of the run done, so a shorter run is a compressed full run.

Commands (from the repository root):
  python -m weights.train_demo --minutes 120                                     # CPU, ~2 h on 2 cores
  python -m weights.train_demo --minutes 8.5 --batch 64 --n-train 100000 --out DIR/demo.pt   # one GPU

Determinism: same seed + same `--steps` + same device gives the same run on CPU (on CUDA up to
cuDNN's non-deterministic kernels); with `--minutes` the number of steps depends on the machine's speed.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interp_cli.models.checkpoint import load_model, save_e4e_checkpoint
from interp_cli.models.e4e import Encoder4Editing, EncoderConfig
from interp_cli.models.stylegan2 import Generator, GeneratorConfig
from weights.demo_faces import HELDOUT_SEED, TRAIN_SEED, make_dataset
from weights.eval_demo import evaluate, sha256_of

HERE = Path(__file__).resolve().parent
CACHE_DIR = HERE / ".cache"
VAL_SEED = 2  # a third face set, for the progress log (the held-out set is only used for the final metrics)

# ~7.2 M parameters: 14.4 MB as float16. The encoder's 10 style blocks (4.2 M) are most of its size.
GENERATOR = {"size": 64, "style_dim": 128, "n_mlp": 8, "lr_mlp": 0.01,
             "channels": {4: 192, 8: 192, 16: 192, 32: 128, 64: 64}}
ENCODER = {"widths": (32, 48, 64, 96), "units": (1, 2, 2, 1), "use_se": True, "input_size": 64}
# `--tiny`: a 32x32 model for smoke tests and quick experiments on a CPU (seconds per step, not the demo).
GENERATOR_TINY = {"size": 32, "style_dim": 64, "n_mlp": 4, "lr_mlp": 0.01,
                  "channels": {4: 96, 8: 96, 16: 64, 32: 32}}
ENCODER_TINY = {"widths": (16, 24, 32, 48), "units": (1, 1, 1, 1), "use_se": True, "input_size": 32}


class DiscriminatorBlock(nn.Module):
    """Residual downsampling block: `[B, cin, H, W] -> [B, cout, H/2, W/2]`."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, padding=1)
        self.conv2 = nn.Conv2d(cin, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv1(x), 0.2)
        y = F.avg_pool2d(F.leaky_relu(self.conv2(y), 0.2), 2)
        return (y + self.skip(F.avg_pool2d(x, 2))) / math.sqrt(2)


class Discriminator(nn.Module):
    """Small StyleGAN2-style residual discriminator: images `[B, 3, 64, 64]` in [-1, 1] -> logits `[B]`.

    Only used for training; it is not part of the checkpoint. The minibatch-stddev feature lets it
    notice a batch of too-similar images (mode collapse of the z samples).
    """

    def __init__(self, size: int = 64, widths: tuple[int, ...] = (32, 64, 128, 256)):
        super().__init__()
        self.from_rgb = nn.Conv2d(3, widths[0], 1)
        blocks, cin = [], widths[0]
        for cout in widths:
            blocks.append(DiscriminatorBlock(cin, cout))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        final = size // 2 ** len(widths)
        self.final_conv = nn.Conv2d(cin + 1, cin, 3, padding=1)
        self.fc = nn.Linear(cin * final * final, cin)
        self.out = nn.Linear(cin, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.leaky_relu(self.from_rgb(x), 0.2))
        group = math.gcd(x.shape[0], 4)
        b, c, h, w = x.shape
        std = x.reshape(group, -1, c, h, w).std(dim=0, unbiased=False).mean(dim=(1, 2, 3))  # [B / group]
        x = torch.cat([x, std.repeat(group).view(b, 1, 1, 1).expand(b, 1, h, w)], dim=1)
        x = F.leaky_relu(self.final_conv(x), 0.2)
        return self.out(F.leaky_relu(self.fc(x.flatten(1)), 0.2)).squeeze(1)


class GradientRMS(torch.autograd.Function):
    """Identity on the way forward; on the way back the gradient is rescaled to a fixed RMS per element.

    Keeps the direction the discriminator asks for and sets its size: `GradientRMS.apply(x, rms)`.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, rms: float) -> torch.Tensor:
        ctx.rms = rms
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * (ctx.rms / grad.pow(2).mean().sqrt().clamp_min(1e-20)), None


def laplacian_pyramid(x: torch.Tensor, levels: int = 4) -> list[torch.Tensor]:
    """`[B, C, H, W]` -> band-pass images at H, H/2, ... (`levels` of them) plus the low-pass residual."""
    bands = []
    for _ in range(levels):
        down = F.avg_pool2d(x, 2)
        bands.append(x - F.interpolate(down, scale_factor=2, mode="bilinear", align_corners=False))
        x = down
    return bands + [x]


def laplacian_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum over pyramid levels of the mean absolute difference of the two images' bands: a scalar."""
    return sum(F.l1_loss(pa, pb) for pa, pb in zip(laplacian_pyramid(a), laplacian_pyramid(b)))


@torch.no_grad()
def ema_update(target: nn.Module, source: nn.Module, beta: float) -> None:
    """target <- beta * target + (1 - beta) * source, for parameters; buffers are copied."""
    for pt, ps in zip(target.parameters(), source.parameters()):
        pt.lerp_(ps, 1 - beta)
    for bt, bs in zip(target.buffers(), source.buffers()):
        bt.copy_(bs)


@torch.no_grad()
def recalibrate_batchnorm(encoder: Encoder4Editing, data: torch.Tensor, batch: int, batches: int,
                          seed: int) -> None:
    """Recompute the encoder's batch-norm running statistics for its (EMA) weights.

    Running statistics collected during training belong to the raw weights; this replaces them by the
    exact average over `batches` random training batches (momentum None = cumulative average).
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    bns = [m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    encoder.train()
    for _ in range(batches):
        idx = torch.randint(len(data), (batch,), generator=gen).to(data.device)
        encoder(to_float(data[idx]))
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
    encoder.eval()


def to_float(batch_u8: torch.Tensor) -> torch.Tensor:
    """uint8 `[B, H, W, 3]` -> float `[B, 3, H, W]` in [-1, 1] (what `preprocess` gives at the same size)."""
    return batch_u8.permute(0, 3, 1, 2).float().div(255).mul(2).sub(1)


def lr_factor(progress: float, decay_start: float = 0.6, final: float = 0.05) -> float:
    """Learning-rate multiplier: 1 until `decay_start` of the run, then cosine down to `final`."""
    if progress <= decay_start:
        return 1.0
    t = min(1.0, (progress - decay_start) / (1 - decay_start))
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))


def half_copy(module: nn.Module) -> nn.Module:
    """A float16 copy (CPU) of a module, for a small checkpoint; integer buffers are left as they are."""
    return copy.deepcopy(module).cpu().half()


def save_checkpoint(path: Path, generator: Generator, encoder: Encoder4Editing, latent_avg: torch.Tensor,
                    meta: dict) -> None:
    """Write the checkpoint (float16 tensors, e4e layout) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_e4e_checkpoint(tmp, half_copy(generator), half_copy(encoder), latent_avg.detach().cpu(), meta)
    tmp.replace(path)


def write_digest(path: Path) -> dict:
    """Write `<stem>.json` with the sha256 and size of the checkpoint (read by interp to verify the preset)."""
    info = {"sha256": sha256_of(path), "size": path.stat().st_size}
    path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the demo model (generator + encoder) on procedural faces.")
    p.add_argument("--minutes", type=float, default=120.0, help="stop training after this much wall time")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: only --minutes)")
    p.add_argument("--seed", type=int, default=0, help="torch / numpy seed")
    p.add_argument("--batch", type=int, default=32, help="faces per step")
    p.add_argument("--n-train", type=int, default=30000, help="training faces (data-set seed 0)")
    p.add_argument("--n-eval", type=int, default=200, help="held-out faces for the final PSNR")
    p.add_argument("--pairs", type=int, default=50, help="held-out pairs for the final midpoint sharpness")
    p.add_argument("--lr-g", type=float, default=2e-3, help="generator Adam learning rate (equalized layers)")
    p.add_argument("--lr-e", type=float, default=5e-4, help="encoder Adam learning rate")
    p.add_argument("--lr-d", type=float, default=4e-4, help="discriminator Adam learning rate")
    p.add_argument("--lap-weight", type=float, default=1.0, help="Laplacian-pyramid L1 weight (L2 has 1)")
    p.add_argument("--delta-weight", type=float, default=0.01, help="penalty on the W+ deltas (mean square)")
    p.add_argument("--map-weight", type=float, default=1.0, help="mapping-network moment-matching weight")
    p.add_argument("--adv-weight", type=float, default=0.2,
                   help="size of the adversarial pixel gradient, relative to an L1 loss's (0: no GAN)")
    p.add_argument("--adv-start", type=float, default=0.15, help="fraction of the run before the GAN starts")
    p.add_argument("--r1", type=float, default=0.2, help="R1 penalty gamma")
    p.add_argument("--r1-every", type=int, default=4, help="lazy R1: every this many steps (scaled up to match)")
    p.add_argument("--ema-halflife", type=float, default=5000.0, help="EMA half-life in images seen")
    p.add_argument("--log-every", type=float, default=30.0, help="seconds between log lines")
    p.add_argument("--save-every", type=float, default=120.0, help="seconds between interim checkpoints")
    p.add_argument("--workers", type=int, default=0, help="processes for rendering the data (0: all CPUs)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--init", default="", help="start from this checkpoint's generator, encoder and latent_avg")
    p.add_argument("--tiny", action="store_true", help="32x32 toy model for smoke tests (not the demo model)")
    p.add_argument("--cache-dir", default=str(CACHE_DIR), help="where rendered training faces are cached")
    p.add_argument("--out", default=str(HERE / "demo.pt"), help="checkpoint path (the .json goes next to it)")
    p.add_argument("--log", default="", help="also append the log to this file")
    return p.parse_args(argv)


class Logger:
    """Prints lines and, with a path, appends them to a file as well."""

    def __init__(self, path: str):
        self.file = open(path, "a") if path else None

    def __call__(self, line: str) -> None:
        print(line, flush=True)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()


def train(args: argparse.Namespace) -> dict:
    """The whole run: data, networks, training loop, EMA/BN finish, save, measure, save again. Returns the meta."""
    log = Logger(args.log)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True  # fixed shapes: picks the fastest kernels once
    start_time = time.time()
    budget = args.minutes * 60

    t0 = time.time()
    workers = args.workers or os.cpu_count() or 1
    gen_dict, enc_dict = (GENERATOR_TINY, ENCODER_TINY) if args.tiny else (GENERATOR, ENCODER)
    size = gen_dict["size"]
    train_np = make_dataset(args.n_train, TRAIN_SEED, size, workers=workers, cache_dir=args.cache_dir or None)
    val_np = make_dataset(64, VAL_SEED, size)
    log(f"data: {len(train_np)} training faces in {time.time() - t0:.1f}s ({workers} workers), device {device}")
    data = torch.from_numpy(train_np).to(device)
    val = to_float(torch.from_numpy(val_np).to(device))

    gen_config = GeneratorConfig(**gen_dict)
    enc_config = EncoderConfig(stylegan_size=gen_config.size, style_dim=gen_config.style_dim, **enc_dict)
    generator = Generator(gen_config).to(device)
    encoder = Encoder4Editing(enc_config).to(device)
    disc = Discriminator(gen_config.size, (16, 32, 64) if args.tiny else (32, 64, 128, 256)).to(device)
    n_latent, style_dim = gen_config.n_latent, gen_config.style_dim
    if args.init:
        # Continue an earlier run (fresh optimizers and discriminator): load_model checks the shapes.
        start = load_model(args.init)
        generator.load_state_dict(start.generator.state_dict())
        encoder.load_state_dict(start.encoder.state_dict())
        latent_avg = start.latent_avg[0].clone().to(device)
        log(f"initialised from {args.init}")
    else:
        with torch.no_grad():
            latent_avg = generator.style(torch.randn(4096, style_dim, device=device)).mean(0)  # [D]
    g_ema, e_ema = copy.deepcopy(generator).eval(), copy.deepcopy(encoder).eval()
    log(f"parameters: generator {sum(p.numel() for p in generator.parameters()) / 1e6:.2f}M, "
        f"encoder {sum(p.numel() for p in encoder.parameters()) / 1e6:.2f}M, "
        f"discriminator {sum(p.numel() for p in disc.parameters()) / 1e6:.2f}M")

    opt_g = torch.optim.Adam(generator.parameters(), lr=args.lr_g, betas=(0.5, 0.99))
    opt_e = torch.optim.Adam(encoder.parameters(), lr=args.lr_e, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr_d, betas=(0.0, 0.99))
    base_lrs = [(opt, opt.param_groups[0]["lr"]) for opt in (opt_g, opt_e, opt_d)]
    data_gen = torch.Generator(device="cpu").manual_seed(args.seed)
    batch = args.batch
    n_mix = batch // 2
    stats: dict[str, torch.Tensor] = {}
    n_stats = 0
    step, last_step, last_log, last_save = 0, 0, time.time(), time.time()
    out_path = Path(args.out)

    def progress() -> float:
        if args.steps:
            return step / args.steps
        return (time.time() - start_time) / budget

    while True:
        p = progress()
        if p >= 1 or (args.steps and step >= args.steps):
            break
        for opt, lr in base_lrs:
            opt.param_groups[0]["lr"] = lr * lr_factor(p)
        adv_on = args.adv_weight > 0 and p >= args.adv_start
        adv_ramp = min(1.0, (p - args.adv_start) / 0.05) if adv_on else 0.0

        idx = torch.randint(len(data), (batch,), generator=data_gen).to(device)
        real = to_float(data[idx])
        # Half a batch of in-betweens and half a batch of z samples: B fakes for the discriminator.
        alpha = torch.rand(n_mix, 1, 1, generator=data_gen).to(device) * 0.7 + 0.15
        z = torch.randn(batch - n_mix, style_dim, generator=data_gen).to(device)

        # ---- generator + encoder + mapping step ----
        codes = encoder(real) + latent_avg                      # [B, n_latent, D]
        # in-betweens of face pairs (i, i + n_mix): random faces, so random pairs
        mixed = torch.lerp(codes[:n_mix], codes[n_mix:2 * n_mix], alpha)
        w_z = generator.style(z)                                 # [B - n_mix, D]
        images = generator(torch.cat([codes, mixed, w_z[:, None].expand(-1, n_latent, -1)]))
        recon, fakes = images[:batch], images[batch:]
        loss_rec = F.mse_loss(recon, real) + args.lap_weight * laplacian_l1(recon, real)
        loss_delta = (codes[:, 1:] - codes[:, :1]).pow(2).mean()
        w_enc = codes[:, 0].detach()
        loss_map = ((w_z.mean(0) - w_enc.mean(0)).pow(2).mean()
                    + (w_z.std(0) - w_enc.std(0)).pow(2).mean())
        loss = loss_rec + args.delta_weight * loss_delta + args.map_weight * loss_map
        if adv_on:
            disc.requires_grad_(False)
            rms = args.adv_weight * adv_ramp / real.numel()
            loss_adv = F.softplus(-disc(GradientRMS.apply(fakes, rms))).mean()
            loss = loss + loss_adv
            stats["g_adv"] = stats.get("g_adv", 0) + loss_adv.detach()
        opt_g.zero_grad(set_to_none=True)
        opt_e.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        opt_e.step()

        # ---- discriminator step ----
        if adv_on:
            disc.requires_grad_(True)
            loss_d = F.softplus(disc(fakes.detach())).mean() + F.softplus(-disc(real)).mean()
            if step % args.r1_every == 0:
                real_r1 = real.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(disc(real_r1).sum(), real_r1, create_graph=True)
                loss_d = loss_d + args.r1 / 2 * grad.pow(2).flatten(1).sum(1).mean() * args.r1_every
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            stats["d"] = stats.get("d", 0) + loss_d.detach()

        # ---- averages ----
        with torch.no_grad():
            latent_avg.lerp_(w_z.mean(0).detach(), 0.005)
            halflife = min(args.ema_halflife, batch * (step + 1) * 0.1)  # ramp-up: short early, when all moves
            ema_update(g_ema, generator, 0.5 ** (batch / max(halflife, 1e-8)))
            ema_update(e_ema, encoder, 0.5 ** (batch / max(halflife, 1e-8)))
        # Sums stay on the device: no GPU -> CPU sync per step, only per log line.
        for key, value in (("rec", loss_rec), ("delta", loss_delta), ("map", loss_map)):
            stats[key] = stats.get(key, 0) + value.detach()
        n_stats += 1
        step += 1

        now = time.time()
        if now - last_log >= args.log_every:
            with torch.no_grad():
                encoder.eval()
                val_rec = generator(encoder(val) + latent_avg)
                encoder.train()
                val_psnr = float((10 * torch.log10(4 / (val_rec - val).pow(2).flatten(1).mean(1))).mean())
            parts = " ".join(f"{k} {float(v) / n_stats:.4f}" for k, v in stats.items())
            rate = (step - last_step) / (now - last_log)
            log(f"step {step} ({rate:.1f}/s) t {now - start_time:.0f}s p {p:.3f} {parts} adv_ramp {adv_ramp:.2f} "
                f"val_psnr(raw) {val_psnr:.2f}")
            stats, n_stats, last_log, last_step = {}, 0, now, step
        if now - last_save >= args.save_every:
            save_checkpoint(out_path, g_ema, e_ema, latent_avg[None].expand(n_latent, -1), {"name": "demo-interim"})
            last_save = now

    train_seconds = time.time() - start_time
    log(f"trained {step} steps in {train_seconds / 60:.1f} min; recalibrating EMA encoder batch norm")
    recalibrate_batchnorm(e_ema, data, batch=min(256, len(data)), batches=20, seed=args.seed)
    meta = {
        "name": "demo",
        "domain": f"procedural cartoon faces {size}x{size}",
        "generator": {**gen_dict, "channels": {str(k): v for k, v in gen_dict["channels"].items()}},
        "encoder": {"stylegan_size": enc_config.stylegan_size, "style_dim": enc_config.style_dim,
                    "widths": list(enc_config.widths), "units": list(enc_config.units),
                    "use_se": enc_config.use_se, "input_size": enc_config.input_size},
        "data": {"generator": "weights/demo_faces.py", "train_seed": TRAIN_SEED, "n_train": args.n_train,
                 "heldout_seed": HELDOUT_SEED},
        "train": {"seed": args.seed, "steps": step, "batch": batch, "minutes": round(train_seconds / 60, 2),
                  "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
                  f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)",
                  "torch": str(torch.__version__), "command": "python -m weights.train_demo " + " ".join(sys.argv[1:])},
    }
    full_avg = latent_avg[None].expand(n_latent, -1).clone()
    save_checkpoint(out_path, g_ema, e_ema, full_avg, meta)
    # Measure the file itself (float16 weights and all), on the training device for speed.
    model = load_model(out_path).to(device)
    metrics = evaluate(model, make_dataset(args.n_eval, HELDOUT_SEED, size), args.pairs)
    meta["train"].update({"psnr": metrics["psnr"], "sharpness_ratio": metrics["sharpness_ratio"]})
    meta["metrics"] = metrics
    # A third face set, for choosing between runs without looking at the held-out numbers.
    meta["val_metrics"] = evaluate(model, make_dataset(args.n_eval, VAL_SEED, size), args.pairs)
    save_checkpoint(out_path, g_ema, e_ema, full_avg, meta)
    digest = write_digest(out_path)
    log("metrics " + json.dumps(metrics))
    log("val_metrics " + json.dumps(meta["val_metrics"]))
    log(f"saved {out_path} ({digest['size']} bytes, sha256 {digest['sha256']})")
    return meta


def main(argv: list[str] | None = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
