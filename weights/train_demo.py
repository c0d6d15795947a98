"""Train the demo model: a small StyleGAN2 generator + e4e encoder on procedural cartoon faces (64x64).

The faces come from `weights/demo_faces.py`, which knows every face's parameters (`param_vector`:
67 numbers scaled to [-1, 1]) and draws any blend of two faces' parameters as a valid face. The
training uses that knowledge, which makes it cheap enough for a 2-core CPU:

- **The latent code of a face is a fixed linear function of its parameters**, `w = A p` (A: a
  seeded random matrix with orthonormal columns, times 2). Interpolating two codes linearly is
  therefore exactly interpolating the two faces' parameters, and the data set contains such blends
  (`demo_faces.BLEND_PROB` of the faces): a morph's in-between frames are faces the generator was
  trained to draw, not cross-fades, with no adversarial training needed.
- **Stage A** (the first `STAGE_A` of the run), two processes in parallel, one CPU core each:
  the generator learns to draw faces from their codes (`G(A p) ~ image`, L2 + Laplacian-pyramid L1),
  while the encoder learns to read the code off the image (`E(image) + latent_avg ~ A p` in every W+
  row, i.e. W+ deltas trained to 0) and the mapping network learns to turn z ~ N(0, I) into codes
  distributed like the faces' (sliced Wasserstein distance), so z-sampling gives faces.
- **Stage B** (the rest): encoder and generator fine-tuned end to end on the reconstruction,
  `G(E(x) + latent_avg) ~ x`, still anchored by the supervised terms so codes stay parameter-linear.
  With `--adv-weight` > 0 a small patch discriminator (`PatchDiscriminator`, non-saturating loss,
  lazy R1 on the real faces) also judges the reconstructions and the renders of random blends of two
  faces' codes (what a morph's in-betweens are): L2 and the Laplacian pyramid alone reward a smudge
  wherever the exact position of an eye or a frame edge is uncertain; the discriminator does not.
- **Checkpoints**: every `--save-every` minutes the run writes the loadable checkpoint (`--out`) and
  the full training state (`<out stem>.state.pt`: float32 weights, optimizers, discriminator, step,
  clock), each atomically, so an interrupted run loses at most that much; `--resume <state>` continues
  it. `--snapshots DIR` also keeps each periodic checkpoint as `DIR/<stem>_s<step>_m<minutes>.pt` and appends
  in-process goal metrics to `DIR/quick.csv` (`python -m weights.eval_demo --curve DIR` measures the
  snapshots through the CLI afterwards).
- `latent_avg` is the mean training code (the average face); it is what `E4EModel.encode` adds.

Weights are stored as float16 (`load_model` converts), the run measures the saved file through
`load_model` (see `weights/eval_demo.py`) and writes `--out` (default `interp_cli/data/demo.pt`, where the
package ships it) plus the sha256/size JSON next to it (`demo.json`).

Commands (from the repository root):
  python -m weights.train_demo --minutes 62                        # the shipped model, run 1 (CPU, 2 cores)
  python -m weights.train_demo --init interp_cli/data/demo.pt --minutes 55  # ... run 2 on top (`make demo-weights`)
  python -m weights.train_demo --resume interp_cli/data/demo.state.pt  # continue an interrupted run
  python -m weights.train_demo --tiny --minutes 5     # a 32x32 toy model, to try changes quickly

On a CUDA machine the same command runs there (auto-detected; `--device cpu` forces the CPU).
Determinism: the same seed and `--steps` give the same model on the same machine and torch build
(`--serial` runs both stage-A halves in one process); with `--minutes` the number of steps depends on
the machine's speed and load.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interp_cli.files import atomic_write, commit, discard, new_temp
from interp_cli.sha256_record import sha256_of
from interp_cli.models.checkpoint import load_model, save_e4e_checkpoint
from interp_cli.models.e4e import Encoder4Editing, EncoderConfig
from interp_cli.models.stylegan2 import Generator, GeneratorConfig, MappingNetwork
from weights.demo_faces import HELDOUT_SEED, PARAM_DIM, TRAIN_SEED, make_dataset, make_param_vectors
from weights.eval_demo import DEFAULT_WEIGHTS, evaluate, heldout_faces, quick_issue_metrics

HERE = Path(__file__).resolve().parent
CACHE_DIR = HERE / ".cache"
VAL_SEED = 2      # a third face set, for progress logs and for comparing runs (not the held-out set)
STAGE_A = 0.6     # fraction of the run spent in stage A (generator / encoder trained apart)
STAGE_B_END = 0.97  # stage B ends here; the rest of the budget is for measuring and saving
W_SCALE = 2.0     # codes are W_SCALE * (orthonormal map of the parameters): about unit scale per dim

# 6.8 M parameters: 13.5 MB as float16. The encoder's 10 style blocks are most of its 4 M.
GENERATOR = {"size": 64, "style_dim": 128, "n_mlp": 8, "lr_mlp": 0.01,
             "channels": {4: 256, 8: 256, 16: 128, 32: 64, 64: 32}}
ENCODER = {"widths": (24, 32, 48, 64), "units": (1, 1, 1, 1), "use_se": True, "input_size": 64}
# `--tiny`: a 32x32 model for smoke tests and quick experiments (not the demo model).
GENERATOR_TINY = {"size": 32, "style_dim": 96, "n_mlp": 4, "lr_mlp": 0.01,
                  "channels": {4: 96, 8: 96, 16: 64, 32: 32}}
ENCODER_TINY = {"widths": (16, 24, 32, 48), "units": (1, 1, 1, 1), "use_se": True, "input_size": 32}


def with_channels(gen_dict: dict, enc_dict: dict, spec: str) -> tuple[dict, dict]:
    """`gen_dict` with the widths of `spec` ("4:256,8:256,...,64:64") and the size they end at, and
    `enc_dict` reading faces of that size. Raises ValueError, with a one-line reason, on a malformed spec."""
    try:
        channels = {int(res): int(width) for res, width in (item.split(":") for item in spec.split(","))}
    except ValueError:
        raise ValueError(f"--channels {spec!r}: write it as RES:WIDTH,... e.g. 4:256,8:256,16:128,32:64,64:32") \
            from None
    size = max(channels)
    expected = [2 ** k for k in range(2, size.bit_length())]
    if sorted(channels) != expected or min(channels.values()) < 1:
        raise ValueError(f"--channels {spec!r}: need a positive width for each of {expected}")
    return {**gen_dict, "size": size, "channels": channels}, {**enc_dict, "input_size": size}


def parse_units(spec: str) -> tuple[int, ...]:
    """"2,2,2,2" -> (2, 2, 2, 2): residual units in each of the encoder's four stages. Raises ValueError,
    with a one-line reason, on anything else."""
    try:
        units = tuple(int(u) for u in spec.split(","))
    except ValueError:
        units = ()
    if len(units) != 4 or min(units) < 1:
        raise ValueError(f"--encoder-units {spec!r}: need four positive counts, e.g. 2,2,2,2")
    return units


def grow_encoder(state: dict, old: EncoderConfig, new: EncoderConfig) -> Encoder4Editing:
    """An encoder shaped `new` that computes exactly what the `old`-shaped weights `state` compute.

    `new` may only add residual units to a stage. Each stage keeps its units at its start, and every
    added unit starts as the identity: the last BatchNorm of its residual branch scales to 0 (the
    zero-init-residual trick), so the continued run starts where the old encoder ended instead of
    re-learning it, and the scale's own gradient lets the extra depth come in as it helps.
    """
    if any(n < o for n, o in zip(new.units, old.units)) or (new.widths, new.input_size) != (old.widths, old.input_size):
        raise ValueError(f"an encoder with units {old.units} can only grow: got {new.units}")
    index = {}  # old body index -> new body index
    for stage, count in enumerate(old.units):
        for j in range(count):
            index[sum(old.units[:stage]) + j] = sum(new.units[:stage]) + j
    grown = Encoder4Editing(new)
    moved = {}
    for key, value in state.items():
        if key.startswith("body."):
            _, i, rest = key.split(".", 2)
            key = f"body.{index[int(i)]}.{rest}"
        moved[key] = value
    missing, unexpected = grown.load_state_dict(moved, strict=False)
    added = set(range(sum(new.units))) - set(index.values())
    assert not unexpected and all(int(k.split(".")[1]) in added for k in missing), (missing, unexpected)
    with torch.no_grad():
        for i in added:
            last_norm = grown.body[i].res_layer[4]
            last_norm.weight.zero_()
            last_norm.bias.zero_()
    return grown


def usage_error(message: str) -> NoReturn:
    """Refuse a bad option the way argparse does: one line on stderr, exit 2, no traceback."""
    print(f"train_demo: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the demo model (generator + encoder) on procedural faces.")
    p.add_argument("--minutes", type=float, default=120.0, help="wall-time budget of the whole run")
    p.add_argument("--steps", type=int, default=0,
                   help="fixed step count per stage instead of the time budget (stage A gets 60%%, B the rest)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the code matrix and the batches")
    p.add_argument("--n-train", type=int, default=40000, help="training faces (data-set seed 0)")
    p.add_argument("--batch-g", type=int, default=16, help="generator batch (stage A)")
    p.add_argument("--batch-e", type=int, default=32, help="encoder batch (stage A)")
    p.add_argument("--batch-b", type=int, default=16, help="end-to-end batch (stage B)")
    p.add_argument("--lr-g", type=float, default=2e-3, help="generator Adam learning rate (equalized layers)")
    p.add_argument("--lr-e", type=float, default=1e-3, help="encoder Adam learning rate")
    p.add_argument("--lr-map", type=float, default=0.02, help="mapping-network Adam learning rate (lr_mul 0.01)")
    p.add_argument("--lap-weight", type=float, default=1.0, help="Laplacian-pyramid L1 weight (L2 has 1)")
    p.add_argument("--feature-weight", type=float, default=0.0,
                   help="extra weight of the eyes, brows, nose, mouth and glasses in the image losses (their "
                        "pixels count 1 + this; 0: all pixels alike). They are ~8%% of a face, so plain "
                        "losses leave them blurred; e.g. 9")
    p.add_argument("--code-weight", type=float, default=1.0, help="stage B: weight of the code anchor E(x) ~ A p")
    p.add_argument("--adv-weight", type=float, default=0.02,
                   help="stage B: weight of the discriminator's non-saturating loss (0: no discriminator)")
    p.add_argument("--adv-warmup", type=int, default=200,
                   help="stage B: steps over which the adversarial weight ramps up from 0 (the discriminator "
                        "learns first)")
    p.add_argument("--lr-warmup", type=int, default=0,
                   help="stage B: steps over which the learning rates ramp up from 0. Adam's first steps on "
                        "fresh moments move every weight by the full rate, which cost a continued (--init) "
                        "run 0.8 dB in its first 5 steps; e.g. 300")
    p.add_argument("--freeze-generator", action="store_true",
                   help="stage B: train the encoder alone (no generator weight gradients and no G(A p) term: "
                        "half the cost of a step). The generator draws held-out faces 3 dB better from "
                        "refined codes than from the encoder's (eval_demo --ceilings), so the encoder has "
                        "room to learn; pair with a low --code-weight, e.g. 0.1")
    p.add_argument("--r1", type=float, default=0.2, help="R1 penalty weight (gamma) on real faces, every 4 steps")
    p.add_argument("--lr-d", type=float, default=5e-4, help="discriminator Adam learning rate")
    p.add_argument("--save-every", type=float, default=5.0,
                   help="minutes between checkpoints (checkpoint + training state, atomically); 0: only at the end")
    p.add_argument("--snapshots", default="", metavar="DIR",
                   help="also keep every periodic checkpoint in DIR (<stem>_m<minutes>.pt) with quick metrics")
    p.add_argument("--resume", default="", metavar="STATE",
                   help="continue an interrupted run from its training state, e.g. interp_cli/data/demo.state.pt")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="autocast dtype for training (auto: bf16 where the hardware has it)")
    p.add_argument("--init", default="",
                   help="continue from this checkpoint (same --seed): stage B only, for the whole budget")
    p.add_argument("--serial", action="store_true", help="run stage A's two halves one after the other")
    p.add_argument("--n-eval", type=int, default=200, help="held-out faces for the final PSNR")
    p.add_argument("--pairs", type=int, default=50, help="held-out pairs for the final midpoint sharpness")
    p.add_argument("--log-every", type=float, default=60.0, help="seconds between log lines")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of the end-to-end stage (stage A's two processes always use one each); "
                        "with --init or --resume on an otherwise idle machine, the number of cores")
    p.add_argument("--workers", type=int, default=0, help="processes for drawing the data (0: all CPUs)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--tiny", action="store_true", help="32x32 toy model for smoke tests (not the demo model)")
    p.add_argument("--channels", default="", metavar="RES:C,...",
                   help="generator widths per resolution, replacing the demo's (and its size: the largest "
                        "resolution named), e.g. 4:256,8:256,16:256,32:128,64:64 for a wider 64 px generator, "
                        "or ...,128:32 for a 128 px one (then the faces and the encoder's input are 128 px)")
    p.add_argument("--encoder-units", default="", metavar="U1,U2,U3,U4",
                   help="residual units per encoder stage (the demo's: 1,1,1,1). With --init, more units than "
                        "the checkpoint's grow its encoder: the added units start as the identity, so the run "
                        "continues from the same reconstructions with more depth to learn with; e.g. 2,2,2,2")
    p.add_argument("--cache-dir", default=str(CACHE_DIR), help="where drawn training faces are cached ('' = none)")
    p.add_argument("--out", default=str(DEFAULT_WEIGHTS), help="checkpoint path (the .json goes next to it)")
    p.add_argument("--log", default="", help="also append the log to this file")
    args = p.parse_args(argv)
    try:
        if args.channels:
            with_channels(GENERATOR, ENCODER, args.channels)
        if args.encoder_units:
            parse_units(args.encoder_units)
    except ValueError as err:
        usage_error(str(err))
    return args


class Logger:
    """Prints lines (prefixed with the stage) and, with a path, appends them to a file as well."""

    def __init__(self, path: str, prefix: str = ""):
        self.path, self.prefix = path, prefix

    def __call__(self, line: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {self.prefix}{line}"
        print(line, flush=True)
        if self.path:
            with open(self.path, "a") as f:
                f.write(line + "\n")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 where it is fast (CUDA with bf16, CPUs with AVX-512 BF16 / AMX), else None (fp32)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported() \
        else None


def code_matrix(param_dim: int, style_dim: int, seed: int) -> torch.Tensor:
    """`A [style_dim, param_dim]`: W_SCALE times a seeded random matrix with orthonormal columns.

    Orthonormal columns keep distances: interpolating codes is interpolating parameters, undistorted.
    """
    if style_dim < param_dim:
        raise ValueError(f"style_dim {style_dim} < {param_dim} face parameters")
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(style_dim, param_dim, generator=gen, dtype=torch.float64))
    return (q * W_SCALE).float()


def to_float(batch_u8: torch.Tensor) -> torch.Tensor:
    """uint8 `[B, H, W, 3]` -> float `[B, 3, H, W]` in [-1, 1] (what `preprocess` gives at the same size)."""
    return batch_u8.permute(0, 3, 1, 2).float().div(255).mul(2).sub(1)


def laplacian_pyramid(x: torch.Tensor, levels: int = 4) -> list[torch.Tensor]:
    """`[B, C, H, W]` -> band-pass images at H, H/2, ... (`levels` of them) plus the low-pass residual."""
    bands = []
    for _ in range(levels):
        down = F.avg_pool2d(x, 2)
        bands.append(x - F.interpolate(down, scale_factor=2, mode="bilinear", align_corners=False))
        x = down
    return bands + [x]


def image_loss(output: torch.Tensor, target: torch.Tensor, lap_weight: float,
               pixel_weight: torch.Tensor | None = None) -> torch.Tensor:
    """L2 + `lap_weight` * Laplacian-pyramid L1 (sum over levels): a scalar. Computed in float32.

    The pyramid term weighs edges at every scale, which plain L2 lets blur. `pixel_weight [B, 1, H, W]`
    (e.g. 1 + w * feature mask) weighs pixels, normalised so that all-equal weights change nothing;
    each coarser band takes the maximum weight of the pixels it covers.
    """
    output, target = output.float(), target.float()

    def weighted(error: torch.Tensor) -> torch.Tensor:
        if pixel_weight is None:
            return error.mean()
        weight = F.adaptive_max_pool2d(pixel_weight, error.shape[-2:])
        return (error * weight).mean() / weight.mean()

    lap = sum(weighted((a - b).abs()) for a, b in zip(laplacian_pyramid(output), laplacian_pyramid(target)))
    return weighted((output - target).pow(2)) + lap_weight * lap


def pixel_weights(masks: torch.Tensor | None, idx: torch.Tensor, feature_weight: float) -> torch.Tensor | None:
    """`1 + feature_weight * masks[idx]` as `[B, 1, H, W]`, or None without masks (plain losses)."""
    if masks is None:
        return None
    return 1 + feature_weight * masks[idx][:, None].float()


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, gen: torch.Generator, n_dirs: int = 64) -> torch.Tensor:
    """Sliced Wasserstein-2 distance between two point sets `[N, D]` (same N): a scalar.

    Both sets are projected on `n_dirs` random unit directions; sorted projections are compared.
    """
    dirs = F.normalize(torch.randn(a.shape[1], n_dirs, generator=gen), dim=0).to(a.device)
    pa, _ = torch.sort(a @ dirs, dim=0)
    pb, _ = torch.sort(b @ dirs, dim=0)
    return (pa - pb).pow(2).mean()


def ramp(step: int, steps: int) -> float:
    """Linear warm-up factor: (step + 1) / steps until it reaches 1; always 1 when `steps` <= 0."""
    return min(1.0, (step + 1) / steps) if steps > 0 else 1.0


def cosine_lr(progress: float, start: float, end: float, step: int = 0, warmup: int = 0) -> float:
    """Learning-rate multiplier going from `start` to `end` along a half cosine as progress goes 0 -> 1,
    ramped up linearly over the first `warmup` steps."""
    progress = min(max(progress, 0.0), 1.0)
    return ramp(step, warmup) * (end + (start - end) * 0.5 * (1 + math.cos(math.pi * progress)))


class PatchDiscriminator(nn.Module):
    """A small patch discriminator: real/fake logits for overlapping patches, `[B, 3, S, S]` -> `[B, 1, S/8, S/8]`.

    Three stride-2 stages (16, 32, 64 channels, then 128) give each logit a receptive field of about 30
    px at 64 px, the size of an eye with its brow and glasses; judging patches rather than the whole
    face keeps it cheap and aimed at local detail (as pix2pix's PatchGAN).
    """

    def __init__(self, base: int = 16):
        super().__init__()
        layers, channels = [nn.Conv2d(3, base, 3, padding=1), nn.LeakyReLU(0.2)], base
        for _ in range(3):
            layers += [nn.Conv2d(channels, channels * 2, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            channels *= 2
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(channels, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def discriminator_step(disc: PatchDiscriminator, opt: torch.optim.Optimizer, real: torch.Tensor,
                       fake: torch.Tensor, r1_gamma: float, with_r1: bool) -> torch.Tensor:
    """One non-saturating discriminator update (fake detached); with `with_r1`, the lazy R1 penalty
    (`gamma / 2 * |grad D(real)|^2`, times 4 for every 4th step) on the real faces, where D(real) is
    each face's *mean* patch logit, as in the loss (the sum of 64 logits made gamma 4096 times
    stronger and froze D at chance). Returns the classification loss (R1 left out, so that logged
    values are comparable from step to step)."""
    real = real.detach().requires_grad_(with_r1)
    real_logits = disc(real)
    loss = F.softplus(disc(fake.detach())).mean() + F.softplus(-real_logits).mean()
    total = loss
    if with_r1:
        grad, = torch.autograd.grad(real_logits.mean(dim=(1, 2, 3)).sum(), real, create_graph=True)
        total = loss + r1_gamma / 2 * 4 * grad.pow(2).flatten(1).sum(1).mean()
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()
    return loss.detach()


def atomic_save(obj, path: Path) -> None:
    """`torch.save` through `atomic_write`: a reader (or a crash) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        torch.save(obj, fh)


def psnr_db(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean PSNR (dB) of `[B, 3, H, W]` images in [-1, 1] (measured on [0, 1])."""
    mse = ((output.clamp(-1, 1) - target) / 2).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1 / mse)).mean())


class Clock:
    """Progress of a stage, by steps (`--steps`) or by wall time until an absolute deadline.

    `done_before` seconds of the stage ran in an earlier, interrupted process (`--resume`): the stage's
    length is then `done_before` plus the time to the deadline.
    """

    def __init__(self, start: float, deadline: float, steps: int, done_before: float = 0.0):
        self.start, self.deadline, self.steps, self.done_before = start, deadline, steps, done_before

    def elapsed(self) -> float:
        """Seconds of the stage so far, earlier processes included."""
        return self.done_before + time.time() - self.start

    def progress(self, step: int) -> float:
        if self.steps:
            return step / self.steps
        return self.elapsed() / max(self.done_before + self.deadline - self.start, 1e-9)

    def done(self, step: int) -> bool:
        return step >= self.steps if self.steps else time.time() >= self.deadline


def load_masks(work_dir: Path, device: torch.device) -> torch.Tensor | None:
    """The training faces' feature masks (bool `[N, S, S]`), or None when the run does not weigh them."""
    path = work_dir / "masks.npy"
    return torch.from_numpy(np.load(path)).to(device) if path.is_file() else None


def load_arrays(work_dir: Path, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The training faces (uint8 `[N, S, S, 3]`) and their parameter vectors (`[N, P]`) from `work_dir`."""
    images = torch.from_numpy(np.load(work_dir / "images.npy")).to(device)
    params = torch.from_numpy(np.load(work_dir / "params.npy")).to(device)
    return images, params


def train_generator_stage(job: dict, log: Logger) -> dict:
    """Stage A, generator: `G(A p) ~ image`. Returns the generator's state dict."""
    args, device = job["args"], job["device"]
    torch.manual_seed(args.seed)
    images, params = load_arrays(job["work_dir"], device)
    masks = load_masks(job["work_dir"], device)
    val_images, val_params = job["val_images"].to(device), job["val_params"].to(device)
    code = job["code"].to(device)
    generator = Generator(GeneratorConfig(**job["gen"])).to(device)
    generator.style.requires_grad_(False)  # the mapping network is trained by the encoder stage
    opt = torch.optim.Adam([p for p in generator.parameters() if p.requires_grad], lr=args.lr_g, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(args.seed + 11)
    clock = Clock(time.time(), job["deadline"], job["steps"])
    step, last_log, total = 0, time.time(), torch.zeros((), device=device)
    while not clock.done(step):
        opt.param_groups[0]["lr"] = args.lr_g * cosine_lr(clock.progress(step), 1.0, 0.3)
        idx = torch.randint(len(images), (args.batch_g,), generator=gen).to(device)
        w = params[idx] @ code.T                                          # [B, D], float32
        with torch.autocast(device.type, dtype=job["amp"], enabled=job["amp"] is not None):
            out = generator(w)
        loss = image_loss(out, to_float(images[idx]), args.lap_weight, pixel_weights(masks, idx, args.feature_weight))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach()
        step += 1
        if time.time() - last_log >= args.log_every:
            with torch.no_grad():
                val = psnr_db(generator(val_params @ code.T), to_float(val_images))
            log(f"step {step} loss {float(total) / step:.4f} val render psnr {val:.2f} dB")
            last_log = time.time()
    log(f"done: {step} steps")
    return {"generator": generator.state_dict(), "steps": step}


def train_encoder_stage(job: dict, log: Logger) -> dict:
    """Stage A, encoder: `E(image) + latent_avg ~ A p` in every W+ row; mapping: z -> codes (sliced W2).

    Returns the encoder's and the mapping network's state dicts.
    """
    args, device = job["args"], job["device"]
    torch.manual_seed(args.seed + 1)
    images, params = load_arrays(job["work_dir"], device)
    val_images, val_params = job["val_images"].to(device), job["val_params"].to(device)
    code, latent_avg = job["code"].to(device), job["latent_avg"].to(device)
    gen_cfg = GeneratorConfig(**job["gen"])
    encoder = Encoder4Editing(EncoderConfig(stylegan_size=gen_cfg.size, style_dim=gen_cfg.style_dim,
                                            **job["enc"])).to(device)
    mapping = MappingNetwork(gen_cfg.style_dim, gen_cfg.n_mlp, gen_cfg.lr_mlp).to(device)
    opt = torch.optim.Adam(encoder.parameters(), lr=args.lr_e, betas=(0.9, 0.99))
    opt_map = torch.optim.Adam(mapping.parameters(), lr=args.lr_map, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(args.seed + 12)
    clock = Clock(time.time(), job["deadline"], job["steps"])
    step, last_log = 0, time.time()
    totals = torch.zeros(2, device=device)
    while not clock.done(step):
        factor = cosine_lr(clock.progress(step), 1.0, 0.1)
        opt.param_groups[0]["lr"] = args.lr_e * factor
        opt_map.param_groups[0]["lr"] = args.lr_map * factor
        idx = torch.randint(len(images), (args.batch_e,), generator=gen).to(device)
        target = (params[idx] @ code.T - latent_avg)[:, None]          # [B, 1, D]: the same for every row
        with torch.autocast(device.type, dtype=job["amp"], enabled=job["amp"] is not None):
            codes = encoder(to_float(images[idx]))                        # [B, n_latent, D]
        loss = F.mse_loss(codes.float(), target.expand_as(codes))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        # mapping network: a batch of z against a batch of face codes
        z = torch.randn(256, gen_cfg.style_dim, generator=gen).to(device)
        faces = params[torch.randint(len(params), (256,), generator=gen).to(device)] @ code.T
        loss_map = sliced_wasserstein(mapping(z), faces, gen)
        opt_map.zero_grad(set_to_none=True)
        loss_map.backward()
        opt_map.step()
        totals += torch.stack([loss.detach(), loss_map.detach()])
        step += 1
        if time.time() - last_log >= args.log_every:
            encoder.eval()
            with torch.no_grad():
                val = F.mse_loss(encoder(to_float(val_images)), (val_params @ code.T - latent_avg)[:, None]
                                 .expand(-1, gen_cfg.n_latent, -1))
            encoder.train()
            log(f"step {step} code mse {float(totals[0]) / step:.4f} (val {float(val):.4f}) "
                f"mapping sw {float(totals[1]) / step:.4f}")
            last_log = time.time()
    log(f"done: {step} steps")
    return {"encoder": encoder.state_dict(), "mapping": mapping.state_dict(), "steps": step}


def _encoder_process(job: dict, result_path: str) -> None:
    """Child-process entry point of the encoder stage: one CPU thread, result saved to `result_path`."""
    torch.set_num_threads(1)
    result = train_encoder_stage(job, Logger(job["args"].log, "[encoder] "))
    torch.save(result, result_path)


def train_end_to_end(job: dict, generator: Generator, encoder: Encoder4Editing, log: Logger,
                     resume: dict | None = None) -> int:
    """Stage B: `G(E(x) + latent_avg) ~ x`, plus `G(A p) ~ x` and `E(x) + latent_avg ~ A p`; with
    `--adv-weight`, the patch discriminator on reconstructions and on renders of blended codes.
    Saves checkpoint + training state every `--save-every` minutes (`job["save"]`). Returns the steps
    (those of an interrupted run included)."""
    args, device = job["args"], job["device"]
    images, params = load_arrays(job["work_dir"], device)
    masks = load_masks(job["work_dir"], device)
    val_images = to_float(job["val_images"].to(device))
    code, latent_avg = job["code"].to(device), job["latent_avg"].to(device)
    train_generator = not args.freeze_generator
    (generator.style if train_generator else generator).requires_grad_(False)
    opt_g = torch.optim.Adam([p for p in generator.parameters() if p.requires_grad], lr=args.lr_g,
                             betas=(0.9, 0.99)) if train_generator else None
    opt_e = torch.optim.Adam(encoder.parameters(), lr=args.lr_e, betas=(0.9, 0.99))
    rates = [(opt_e, args.lr_e)] + ([(opt_g, args.lr_g)] if train_generator else [])  # what each step updates
    adversarial = args.adv_weight > 0
    disc = PatchDiscriminator().to(device) if adversarial else None
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr_d, betas=(0.0, 0.99)) if adversarial else None
    gen = torch.Generator().manual_seed(args.seed + 13)
    step, done_before = 0, 0.0
    if resume:
        if train_generator:
            opt_g.load_state_dict(resume["opt_g"])
        opt_e.load_state_dict(resume["opt_e"])
        if adversarial and resume.get("disc"):
            disc.load_state_dict(resume["disc"])
            opt_d.load_state_dict(resume["opt_d"])
        gen.set_state(resume["rng"])
        step, done_before = int(resume["step"]), float(resume["elapsed"])
        log(f"resumed at step {step}, {done_before / 60:.1f} min into stage B")
    first_step = step
    clock = Clock(time.time(), job["deadline"], job["steps"], done_before)
    last_log = last_save = time.time()
    batch = args.batch_b
    totals = torch.zeros(5, device=device)

    def save() -> None:
        job["save"](step, clock.elapsed(), {
            "opt_g": opt_g.state_dict() if train_generator else {}, "opt_e": opt_e.state_dict(),
            "disc": disc.state_dict() if adversarial else {}, "opt_d": opt_d.state_dict() if adversarial else {},
            "rng": gen.get_state(), "step": step, "elapsed": clock.elapsed()})

    if not resume and args.save_every:
        save()  # minute 0: the starting point of the curve
    while not clock.done(step):
        factor = cosine_lr(clock.progress(step), 0.5, 0.0, step, args.lr_warmup)
        for opt, rate in rates:
            opt.param_groups[0]["lr"] = rate * factor
        idx = torch.randint(len(images), (batch,), generator=gen).to(device)
        real = to_float(images[idx])
        true_code = (params[idx] @ code.T)[:, None].expand(-1, generator.n_latent, -1)
        with torch.autocast(device.type, dtype=job["amp"], enabled=job["amp"] is not None):
            codes = encoder(real).float() + latent_avg
            # G(A p) ~ x only teaches the generator: a frozen one skips it
            inputs = [codes, true_code] if train_generator else [codes]
            if adversarial:
                # a morph's in-betweens: codes of two faces blended at a random point (the encoder's own codes)
                t = torch.rand(batch, 1, 1, generator=gen).to(device)
                inputs.append(torch.lerp(codes, torch.roll(codes, 1, dims=0), t))
            out = generator(torch.cat(inputs))                         # one batch: recon, renders, blends
        weight = pixel_weights(masks, idx, args.feature_weight)
        loss_rec = image_loss(out[:batch], real, args.lap_weight, weight)
        loss_sup = image_loss(out[batch:2 * batch], real, args.lap_weight, weight) if train_generator \
            else torch.zeros((), device=device)
        loss_code = F.mse_loss(codes, true_code)
        loss = loss_rec + loss_sup + args.code_weight * loss_code
        loss_adv = loss_d = torch.zeros((), device=device)
        if adversarial:
            fake = torch.cat([out[:batch], out[-batch:]]).float()  # reconstructions and blends (the last input)
            loss_d = discriminator_step(disc, opt_d, real, fake, args.r1, step % 4 == 0)
            disc.requires_grad_(False)
            loss_adv = F.softplus(-disc(fake)).mean()
            disc.requires_grad_(True)
            loss = loss + args.adv_weight * ramp(step, args.adv_warmup) * loss_adv
        for opt, _ in rates:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt, _ in rates:
            opt.step()
        totals += torch.stack([loss_rec.detach(), loss_sup.detach(), loss_code.detach(), loss_adv.detach(),
                               loss_d.detach()])
        step += 1
        if time.time() - last_log >= args.log_every:
            encoder.eval()
            with torch.no_grad():
                val = psnr_db(generator(encoder(val_images) + latent_avg), val_images)
            encoder.train()
            rec, sup, cod, adv, dis = (float(t) / (step - first_step) for t in totals)
            log(f"step {step} rec {rec:.4f} sup {sup:.4f} code {cod:.4f} adv {adv:.3f} d {dis:.3f} "
                f"val recon psnr {val:.2f} dB")
            last_log = time.time()
        if args.save_every and time.time() - last_save >= args.save_every * 60:
            save()
            last_save = time.time()
    log(f"done: {step} steps")
    return step


def half_copy(module: nn.Module) -> nn.Module:
    """A float16 copy (CPU) of a module, for a small checkpoint; integer buffers are left as they are."""
    return copy.deepcopy(module).cpu().half()


def save_checkpoint(path: Path, generator: Generator, encoder: Encoder4Editing, latent_avg: torch.Tensor,
                    meta: dict) -> None:
    """Write the checkpoint (float16 tensors, e4e layout) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temp(path)
    try:
        save_e4e_checkpoint(tmp, half_copy(generator), half_copy(encoder), latent_avg.detach().cpu(), meta)
        commit(tmp, path)
    except BaseException:
        discard(tmp)
        raise


def state_path(out: Path) -> Path:
    """Where the training state of a run writing `out` goes: `demo.pt` -> `demo.state.pt`."""
    return out.with_name(out.stem + ".state.pt")


def write_digest(path: Path) -> dict:
    """Write `<stem>.json` with the sha256 and size of the checkpoint (read by interp to verify the preset)."""
    info = {"sha256": sha256_of(path), "size": path.stat().st_size}
    with atomic_write(path.with_suffix(".json"), "w") as fh:
        fh.write(json.dumps(info, indent=2) + "\n")
    return info


def describe(args: argparse.Namespace, gen_dict: dict, enc_config: EncoderConfig, steps: dict, minutes: float,
             amp, device: torch.device, init: dict | None) -> dict:
    """The checkpoint's `opts["interp"]`: architecture, data and how it was trained."""
    size, style_dim = gen_dict["size"], gen_dict["style_dim"]
    meta = {
        "name": "demo",
        "domain": f"procedural cartoon faces {size}x{size}",
        "generator": {**gen_dict, "channels": {str(k): v for k, v in gen_dict["channels"].items()}},
        "encoder": {"stylegan_size": size, "style_dim": style_dim, "widths": list(enc_config.widths),
                    "units": list(enc_config.units), "use_se": enc_config.use_se,
                    "input_size": enc_config.input_size},
        "data": {"generator": "weights/demo_faces.py", "train_seed": TRAIN_SEED, "n_train": args.n_train,
                 "heldout_seed": HELDOUT_SEED},
        "train": {"seed": args.seed, "steps": steps, "minutes": round(minutes, 2),
                  "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
                  f"cpu ({platform.machine()}, "
                  f"{'1 process' if args.serial or args.init or args.resume else '2 processes'}, "
                  f"stage B {args.threads} thread{'s' if args.threads > 1 else ''})",
                  "precision": str(amp or torch.float32).replace("torch.", ""),
                  "feature_weight": args.feature_weight,
                  "lr_warmup": args.lr_warmup,
                  "freeze_generator": args.freeze_generator,
                  "adversarial": {"weight": args.adv_weight, "r1": args.r1, "lr_d": args.lr_d,
                                  "warmup": args.adv_warmup} if args.adv_weight > 0 else None,
                  "torch": str(torch.__version__),
                  "command": "python -m weights.train_demo " + " ".join(sys.argv[1:])},
    }
    if init:
        meta["train"]["init"] = init
    return meta


def train(args: argparse.Namespace) -> dict:
    """The whole run: data, stage A (parallel), stage B, save, measure the file, save again. Returns the meta.

    Sets torch's thread count as each stage needs, and gives the caller's back at the end: a test process left
    at one thread drew later tests' tuned frames with another kernel split than the ones it compared them to."""
    threads = torch.get_num_threads()
    try:
        return _train(args)
    finally:
        torch.set_num_threads(threads)


def _train(args: argparse.Namespace) -> dict:
    start = time.time()
    budget = args.minutes * 60
    log = Logger(args.log)
    device = pick_device(args.device)
    torch.set_num_threads(1)  # one core per process: oversubscribed OpenMP threads are many times slower
    torch.manual_seed(args.seed)
    gen_dict, enc_dict = (GENERATOR_TINY, ENCODER_TINY) if args.tiny else (GENERATOR, ENCODER)
    if args.channels:
        gen_dict, enc_dict = with_channels(gen_dict, enc_dict, args.channels)
    if args.encoder_units:
        enc_dict = {**enc_dict, "units": parse_units(args.encoder_units)}
    size, style_dim = gen_dict["size"], gen_dict["style_dim"]
    amp = autocast_dtype(args.precision, device)
    out_path = Path(args.out)
    resume = torch.load(args.resume, map_location="cpu", weights_only=True) if args.resume else None
    previous = load_model(args.init) if args.init and not resume else None
    grown_encoder = None
    if previous is not None:
        # Checked before drawing the data, so a refused --encoder-units costs seconds, not minutes.
        old_units = previous.encoder.config.units
        enc_dict = {**enc_dict, "units": enc_dict["units"] if args.encoder_units else old_units}
        if tuple(enc_dict["units"]) != old_units:
            new_config = EncoderConfig(stylegan_size=size, style_dim=style_dim, **enc_dict)
            try:
                grown_encoder = grow_encoder(previous.encoder.state_dict(), previous.encoder.config, new_config)
            except ValueError as err:
                usage_error(f"--encoder-units: {err}")

    workers = args.workers or os.cpu_count() or 1
    images = make_dataset(args.n_train, TRAIN_SEED, size, workers=workers, cache_dir=args.cache_dir or None)
    params = make_param_vectors(args.n_train, TRAIN_SEED)
    code = code_matrix(PARAM_DIM, style_dim, args.seed)
    latent_avg = torch.from_numpy(params).mean(0) @ code.T                       # [D]: the average face's code
    log(f"data: {len(images)} faces of {size}px in {time.time() - start:.0f}s; device {device}, "
        f"autocast {amp}, {'serial' if args.serial else 'parallel'} stage A")

    with tempfile.TemporaryDirectory(prefix="train_demo_") as tmp:
        work_dir = Path(tmp)
        np.save(work_dir / "images.npy", images)
        np.save(work_dir / "params.npy", params)
        if args.feature_weight > 0:
            np.save(work_dir / "masks.npy", make_dataset(args.n_train, TRAIN_SEED, size, workers=workers,
                                                         cache_dir=args.cache_dir or None, masks=True))
        job = {"args": args, "device": device, "amp": amp, "work_dir": work_dir, "gen": gen_dict, "enc": enc_dict,
               "code": code, "latent_avg": latent_avg,
               "val_images": torch.from_numpy(make_dataset(64, VAL_SEED, size)),
               "val_params": torch.from_numpy(make_param_vectors(64, VAL_SEED))}
        steps_a = int(round(args.steps * STAGE_A)) if args.steps and not (args.init or args.resume) else 0
        stage_a_end = start + STAGE_A * budget
        init = None
        if resume:
            # An interrupted run: its weights, optimizers and clock carry on where its last save left them.
            g_result = {"generator": resume["generator"], "steps": resume["steps_a"]["generator"]}
            e_result = {"encoder": resume["encoder"], "steps": resume["steps_a"]["encoder"],
                        "mapping": {k[len("style."):]: v for k, v in resume["generator"].items()
                                    if k.startswith("style.")}}
            init = resume["init"] or None
            log(f"resuming {args.resume}")
        elif args.init:
            # Continue a finished run with more end-to-end training: its weights replace stage A.
            g_result = {"generator": previous.generator.state_dict(), "steps": 0}
            start_encoder = previous.encoder if grown_encoder is None else grown_encoder
            e_result = {"encoder": start_encoder.state_dict(), "steps": 0,
                        "mapping": previous.generator.style.state_dict()}
            if grown_encoder is not None:
                log(f"encoder grown from {previous.encoder.config.units} to {grown_encoder.config.units} units "
                    "per stage (the added ones start as the identity)")
            init = {"file": Path(args.init).name, "sha256": sha256_of(args.init),
                    "train": {k: v for k, v in previous.meta.get("train", {}).items() if k != "init"}}
            log(f"initialised from {args.init}: stage A skipped")
        elif args.serial:
            middle = (time.time() + stage_a_end) / 2
            g_result = train_generator_stage({**job, "deadline": middle, "steps": steps_a}, Logger(args.log, "[G] "))
            e_result = train_encoder_stage({**job, "deadline": stage_a_end, "steps": steps_a},
                                           Logger(args.log, "[encoder] "))
        else:
            result_path = work_dir / "encoder_stage.pt"
            child = multiprocessing.get_context("spawn").Process(
                target=_encoder_process,
                args=({**job, "deadline": stage_a_end, "steps": steps_a}, str(result_path)))
            child.start()
            g_result = train_generator_stage({**job, "deadline": stage_a_end, "steps": steps_a},
                                             Logger(args.log, "[G] "))
            child.join()
            if child.exitcode != 0:
                raise RuntimeError(f"the encoder stage failed (exit code {child.exitcode}); see the log above")
            e_result = torch.load(result_path, weights_only=True)

        gen_config = GeneratorConfig(**gen_dict)
        enc_config = EncoderConfig(stylegan_size=size, style_dim=style_dim, **enc_dict)
        generator = Generator(gen_config).to(device)
        generator.load_state_dict(g_result["generator"])
        generator.style.load_state_dict(e_result["mapping"])
        encoder = Encoder4Editing(enc_config).to(device)
        encoder.load_state_dict(e_result["encoder"])
        full_avg = latent_avg[None].expand(generator.n_latent, -1).clone()
        steps_of_a = {"generator": g_result["steps"], "encoder": e_result["steps"]}
        if resume:
            steps_b = int(resume["steps_b"])
            minutes_before = float(resume["minutes_before_b"])
            b_total = float(resume["b_total"])
            stage_b_deadline = time.time() + max(b_total - float(resume["elapsed"]), 0.0)
        else:
            steps_b = args.steps - steps_a if args.steps else 0  # all of --steps with --init
            minutes_before = (time.time() - start) / 60
            stage_b_deadline = start + STAGE_B_END * budget
            b_total = stage_b_deadline - time.time()
        quick_faces = make_dataset(24, VAL_SEED, size)  # checkpoint choice: the validation set, not held-out
        snapshots = Path(args.snapshots) if args.snapshots else None

        def save_progress(step: int, elapsed: float, train_state: dict) -> None:
            """Periodic save: loadable checkpoint (+ digest), training state, and optionally a snapshot."""
            meta = describe(args, gen_dict, enc_config, {**steps_of_a, "end_to_end": step},
                            minutes_before + elapsed / 60, amp, device, init)
            save_checkpoint(out_path, generator, encoder, full_avg, meta)
            write_digest(out_path)
            atomic_save({"generator": generator.state_dict(), "encoder": encoder.state_dict(), **train_state,
                         "steps_a": steps_of_a, "steps_b": steps_b, "b_total": b_total,
                         "minutes_before_b": minutes_before, "init": init or {}}, state_path(out_path))
            if snapshots:
                snapshot = snapshots / f"{out_path.stem}_s{step:06d}_m{elapsed / 60:05.1f}.pt"  # step: unique when fast
                save_checkpoint(snapshot, generator, encoder, full_avg, meta)
                quick = quick_issue_metrics(load_model(snapshot).to(device), quick_faces)
                row = {"minutes": round(elapsed / 60, 2), "step": step, "file": snapshot.name, **quick}
                new = not (snapshots / "quick.csv").exists()
                with open(snapshots / "quick.csv", "a", newline="") as f:
                    writer = csv.DictWriter(f, fieldnames=list(row))
                    if new:
                        writer.writeheader()
                    writer.writerow(row)
                log("snapshot " + json.dumps(row))

        torch.set_num_threads(max(1, args.threads))  # stage B is one process: it may use every core
        steps_e2e = train_end_to_end({**job, "deadline": stage_b_deadline, "steps": steps_b, "save": save_progress},
                                     generator, encoder, Logger(args.log, "[B] "), resume)

    generator.eval()
    encoder.eval()
    train_seconds = time.time() - start + (minutes_before * 60 + float(resume["elapsed"]) if resume else 0.0)
    meta = describe(args, gen_dict, enc_config, {**steps_of_a, "end_to_end": steps_e2e}, train_seconds / 60,
                    amp, device, init)
    save_checkpoint(out_path, generator, encoder, full_avg, meta)
    # Measure the file itself (float16 weights and all), as interp will load it.
    model = load_model(out_path).to(device)
    metrics = evaluate(model, make_dataset(args.n_eval, HELDOUT_SEED, size), args.pairs)
    meta["train"].update({"psnr": metrics["psnr"], "sharpness_ratio": metrics["sharpness_ratio"]})
    meta["metrics"] = metrics
    meta["goal_metrics"] = quick_issue_metrics(model, heldout_faces(min(args.n_eval, 48), size))
    meta["val_metrics"] = evaluate(model, make_dataset(args.n_eval, VAL_SEED, size), args.pairs)
    save_checkpoint(out_path, generator, encoder, full_avg, meta)
    digest = write_digest(out_path)
    log("metrics " + json.dumps(metrics))
    log("goal_metrics " + json.dumps(meta["goal_metrics"]))
    log("val_metrics " + json.dumps(meta["val_metrics"]))
    log(f"saved {out_path} ({digest['size']} bytes, sha256 {digest['sha256']}) after {train_seconds / 60:.1f} min")
    return meta


def main(argv: list[str] | None = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
