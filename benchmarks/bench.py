"""Speed of the networks, measured against this machine's own 3x3-convolution peak, in one process.

    make bench                                   # = .venv/bin/python benchmarks/bench.py
    .venv/bin/python benchmarks/bench.py --quick --skip-e2e

CPU mode (the default) measures, with full-size networks and random weights (nothing is
downloaded), in a few minutes on a 2-core machine:
  1. the conv peak: a 512->512 3x3 conv on 64x64 and a 32->32 3x3 conv on 1024x1024 (best of
     NCHW and channels_last), in GFLOP/s; the better one is "the peak";
  2. generator ms/frame at 256 and 1024 with glibc's default malloc, then again as the `interp`
     command renders, with glibc keeping freed blocks (`interp_cli.malloc`; the difference is
     page-fault and zero-fill time): batch 1 and batch 4 over the same 4 codes (timed
     interleaved, so drift hits both), and batch 1 with direct convs only (Winograd off, see
     interp_cli/models/winograd.py), whose ratio is the reported Winograd gain;
  3. encoder (e4e IR-SE-50, 256x256 input) ms/image, batch 1 and 2;
  4. the 1024 generator under bf16 autocast (`--precision bf16`): ms/frame and its distance from fp32;
  5. `--paste`: warping and blending one 1024 face into a 12 MP photo (4000 x 3000, the test photo
     obama.jpg scaled 2.64x and edge-padded, so the face's crop is ~1100 px wide), ms/frame and
     as a share of the 1024 render; needs the align extra (the landmarks), skipped without it;
  6. end to end (`--skip-e2e` skips it): a full-size random e4e checkpoint is written to a temp
     dir and the CLI morphs two test images in 60 steps to an MP4 (`--no-cache`, so both are
     encoded) in a fresh subprocess: wall time, its split (from the CLI's `--json` timings) and
     that process's peak RSS; again with `--precision bf16` unless `--quick`. The checkpoint
     is synced to disk first and so sits in the page cache (a user's second and later runs).
Every compute number is printed as time, GFLOP/s and % of peak, where the peak conv is
re-measured between the repeats so both see the same machine load (a shared machine's speed
moves by 2x from minute to minute), median over the repeats after one warm-up. FLOPs are
counted analytically, 2 per multiply-accumulate of the dense convolutions and linear layers;
the transposed (upsampling) convs count 9 MACs per *input* pixel and channel pair, so the
count does not depend on the formulation that runs it. FIR blurs, activations and noise are
not counted: they are overhead. A last SUMMARY line checks the performance targets.

The GPU sweep (precisions x batch sizes on CUDA) is benchmarks/bench_gpu.py; `bench.py --device cuda`
(or mps) runs it, passing on --quick, --threads and --json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# OpenMP threads that spin while waiting burn the CPU that other programs (or ffmpeg) need, and
# on a busy machine every parallel region then waits for a descheduled spinner: measured here,
# the encoder went from 6.4 s to 1.8 s per image with PASSIVE. Set before torch loads OpenMP.
# The end-to-end CLI run still gets the caller's own environment (CALLER_WAIT_POLICY).
CALLER_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from interp_cli.malloc import keep_freed_memory  # noqa: E402
from interp_cli.models import winograd  # noqa: E402
from interp_cli.models.e4e import Encoder4Editing, EncoderConfig  # noqa: E402
from interp_cli.models.stylegan2 import Generator, GeneratorConfig  # noqa: E402
from interp_cli.stops import run_child, run_script  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "golden"


# --- counting --------------------------------------------------------------------------------


def generator_macs(config: GeneratorConfig) -> int:
    """Multiply-accumulates of one frame's dense convs (the mapping MLP is not run: W+ input)."""
    ch, style = config.channels, config.style_dim
    macs = 4 * 4 * ch[4] * ch[4] * 9 + 4 * 4 * ch[4] * 3             # conv1 + to_rgb1
    macs += 2 * (ch[4] * style + 3 * style)                          # their style affines
    cin = ch[4]
    for i in range(3, config.log_size + 1):
        r, cout = 2 ** i, ch[2 ** i]
        macs += (r // 2) ** 2 * cin * cout * 9                       # transposed 3x3, low-res grid
        macs += r * r * cout * cout * 9                              # 3x3
        macs += r * r * cout * 3                                     # ToRGB 1x1
        macs += style * (cin + cout + cout)                          # three style affines
        cin = cout
    return macs


def encoder_macs(encoder: Encoder4Editing, size: int) -> int:
    """MACs of the encoder's convs and linears, counted from output shapes with forward hooks."""
    total = 0

    def conv_hook(module, inputs, output):
        nonlocal total
        k = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
        total += output.numel() * k

    def linear_hook(module, inputs, output):
        nonlocal total
        total += output.numel() * inputs[0].shape[-1]

    from interp_cli.models.stylegan2 import EqualLinear

    handles = []
    for m in encoder.modules():
        if isinstance(m, torch.nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, (torch.nn.Linear, EqualLinear)):
            handles.append(m.register_forward_hook(linear_hook))
    device = next(encoder.parameters()).device
    with torch.no_grad():
        encoder(torch.zeros(1, 3, size, size, device=device))
    for h in handles:
        h.remove()
    return total


# --- timing ----------------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_call(fn, repeats: int, device: torch.device, warmup: int = 1) -> float:
    """Median seconds of `fn()` over `repeats` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class PeakProbe:
    """The peak conv, run between the repeats of a measurement so both see the same machine load.

    Other work on a shared machine changes speed by 2x from minute to minute; the ratio of a
    network's GFLOP/s to the conv's GFLOP/s measured right next to it is far steadier.
    """

    def __init__(self, channels: int, size: int, device: torch.device, fmt=torch.channels_last):
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(1, channels, size, size, generator=gen).to(device).contiguous(memory_format=fmt)
        self.w = (torch.randn(channels, channels, 3, 3, generator=gen) / math.sqrt(9 * channels)).to(device)
        self.flops = 2 * size * size * channels * channels * 9
        self.device = device

    def gflops(self) -> float:
        with torch.no_grad():
            seconds = time_call(lambda: F.conv2d(self.x, self.w, padding=1), 3, self.device, warmup=0)
        return self.flops / seconds / 1e9


def time_vs_peak(fn, repeats: int, device: torch.device, probe: PeakProbe, flops: float) -> tuple[float, float]:
    """(median seconds of fn, median % of the probe's GFLOP/s measured between the repeats)."""
    return time_all_vs_peak({"fn": (fn, flops)}, repeats, device, probe)["fn"]


def time_all_vs_peak(fns: dict, repeats: int, device: torch.device, probe: PeakProbe) -> dict:
    """`{name: (fn, flops)}` -> `{name: (median seconds, median % of peak)}`, the fns interleaved.

    Each repeat runs every fn once between two probe convs, so slow drift in the machine's
    speed hits all of them alike and their ratios (batch 4 vs batch 1) stay fair.
    """
    for fn, _ in fns.values():
        fn()
    sync(device)
    times: dict = {name: [] for name in fns}
    ratios: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (fn, flops) in fns.items():
            peak = probe.gflops()
            t0 = time.perf_counter()
            fn()
            sync(device)
            seconds = time.perf_counter() - t0
            peak = max(peak, probe.gflops())
            times[name].append(seconds)
            ratios[name].append(100 * flops / seconds / 1e9 / peak)
    return {name: (statistics.median(times[name]), statistics.median(ratios[name])) for name in fns}


def conv_peak(device: torch.device, repeats: int, dtype=torch.float32) -> dict[str, float]:
    """GFLOP/s of two plain 3x3 convs, best of NCHW and channels_last: {'512@64': .., '32@1024': ..}."""
    out = {}
    for name, (c, r) in {"512@64": (512, 64), "32@1024": (32, 1024)}.items():
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(1, c, r, r, generator=gen).to(device, dtype)
        w = (torch.randn(c, c, 3, 3, generator=gen) / math.sqrt(9 * c)).to(device, dtype)
        flops = 2 * r * r * c * c * 9
        best = 0.0
        with torch.no_grad():
            for fmt in (torch.contiguous_format, torch.channels_last):
                xf = x.contiguous(memory_format=fmt)
                seconds = time_call(lambda xf=xf, w=w: F.conv2d(xf, w, padding=1), repeats, device)
                best = max(best, flops / seconds / 1e9)
        out[name] = best
    return out


def random_generator(size: int, device: torch.device, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(GeneratorConfig(size=size)).eval().requires_grad_(False).to(device)


def random_encoder(device: torch.device, seed: int = 0) -> Encoder4Editing:
    torch.manual_seed(seed)
    return Encoder4Editing(EncoderConfig()).eval().requires_grad_(False).to(device)


def fmt_row(name: str, seconds: float, per: str, flops: float, pct: float) -> str:
    return (f"  {name:<26} {seconds * 1e3:9.1f} ms/{per:<5}  {flops / seconds / 1e9:7.1f} GFLOP/s"
            f"  {pct:5.1f}% of peak")


# --- CPU mode --------------------------------------------------------------------------------


def run_cpu(args) -> dict:
    device = torch.device(args.device)
    repeats = 2 if args.quick else 3
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    wait_policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    results: dict = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
                     "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs", "loadavg_1min": load,
                     "omp_wait_policy": wait_policy}
    print(f"interp bench: torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} logical CPUs, OMP_WAIT_POLICY {wait_policy}, load average {load:.1f}, "
          f"{'quick' if args.quick else 'full'} mode", flush=True)

    peaks = conv_peak(device, repeats + 2)
    peak = max(peaks.values())
    results["conv_peak_gflops"] = peaks
    print("conv peak (3x3, fp32, best of NCHW / channels_last):")
    for name, rate in peaks.items():
        print(f"  conv {name:<21} {rate:9.1f} GFLOP/s")
    print(f"  peak {peak:.1f} GFLOP/s. Below, '% of peak' divides by the peak conv re-measured between\n"
          f"  the repeats (same machine load), median over the repeats.", flush=True)
    channels, size = (512, 64) if peaks["512@64"] >= peaks["32@1024"] else (32, 1024)
    probe = PeakProbe(channels, size, device)
    gen_results: dict = {}
    results["generator"] = gen_results

    def bench_generator(size: int, batches: tuple[int, ...], suffix: str = "", direct_too: bool = False) -> None:
        """One row per batch size, all rendering the same `max(batches)` codes (batch 1: one call
        per code), timed interleaved (see time_all_vs_peak); `direct_too` adds batch 1 with
        Winograd off (models/winograd.py) in the same interleaving."""
        generator = random_generator(size, device)
        flops = 2 * generator_macs(generator.config)
        noise = generator.make_noise("const", device=device)
        frames = max(batches)
        codes = torch.randn(frames, generator.n_latent, generator.style_dim, device=device)
        fns = {}
        for batch in batches:
            chunks = codes.split(batch)

            def render(g=generator, n=noise, chunks=chunks):
                with torch.inference_mode():
                    for latent in chunks:
                        images = g(latent, noise=n)
                return images

            if not torch.isfinite(render()).all():
                raise SystemExit(f"generator {size} produced non-finite values")
            fns[(batch, "")] = (render, flops * frames)
            if direct_too and batch == 1:
                def render_direct(render=render):
                    winograd.ENABLED = False
                    try:
                        return render()
                    finally:
                        winograd.ENABLED = True

                fns[(batch, "_direct")] = (render_direct, flops * frames)
        for (batch, kind), (seconds, pct) in time_all_vs_peak(fns, repeats, device, probe).items():
            seconds /= frames
            gen_results[f"gen{size}_b{batch}{kind}{suffix}"] = {
                "ms_per_frame": seconds * 1e3, "gflops": flops / seconds / 1e9, "pct_peak": pct,
                "gflop_per_frame": flops / 1e9}
            label = f"generator {size} direct convs" if kind else f"generator {size} batch {batch}"
            print(fmt_row(label, seconds, "frame", flops, pct), flush=True)

    compare = device.type == "cpu" and winograd.nnpack_ready()
    # glibc's default malloc first (keep_freed_memory is process-wide, so it comes second): the
    # difference is page-fault and zero-fill time.
    print("generator (W+ codes -> image, fp32), glibc's default malloc:")
    for size in (256, 1024):
        bench_generator(size, (1,), suffix="_default_malloc")
    # As the interp command renders: glibc keeps freed blocks for reuse from start-up.
    reuse = keep_freed_memory()
    print("generator, glibc malloc keeping freed blocks (as the interp command runs it):" if reuse else
          "generator (keep_freed_memory does not apply here):")
    for size in (256, 1024):
        bench_generator(size, (1, 4), direct_too=compare)
    ratio = {s: gen_results[f"gen{s}_b4"]["ms_per_frame"] / gen_results[f"gen{s}_b1"]["ms_per_frame"]
             for s in (256, 1024)}
    print("  batch 4 / batch 1 time per frame (the same 4 codes): "
          + ", ".join(f"{s}: {r:.2f}" for s, r in ratio.items()))
    if compare:
        gains = {s: gen_results[f"gen{s}_b1_direct"]["ms_per_frame"] / gen_results[f"gen{s}_b1"]["ms_per_frame"]
                 for s in (256, 1024)}
        results["winograd_speedup"] = gains
        print("  direct convs / with Winograd (models/winograd.py), time per frame: "
              + ", ".join(f"{s}: {r:.2f}" for s, r in gains.items()))

    print("encoder (e4e IR-SE-50, 256x256 -> W+):")
    encoder = random_encoder(device)
    enc_flops = 2 * encoder_macs(encoder, 256)
    images = torch.rand(2, 3, 256, 256, device=device) * 2 - 1
    for batch in (1, 2):
        def encode(enc=encoder, x=images[:batch]):
            with torch.inference_mode():
                return enc(x)

        seconds, pct = time_vs_peak(encode, repeats, device, probe, enc_flops * batch)
        seconds /= batch
        results[f"encoder_b{batch}"] = {"ms_per_image": seconds * 1e3, "gflops": enc_flops / seconds / 1e9,
                                        "pct_peak": pct, "gflop_per_image": enc_flops / 1e9}
        print(fmt_row(f"encoder batch {batch}", seconds, "image", enc_flops, pct), flush=True)

    # Opt-in bf16 autocast (`--precision bf16`): speed, and distance from the fp32 image.
    results["gen1024_bf16"] = bench_bf16(1024, device, repeats, probe)

    paste = bench_paste(repeats=5 if args.quick else 15)
    if paste is not None:
        results["paste"] = paste
        paste["pct_of_render"] = 100 * paste["ms_per_frame"] / gen_results["gen1024_b4"]["ms_per_frame"]
        print(f"  = {paste['pct_of_render']:.1f}% of a 1024 frame's render (batch 4)", flush=True)

    print("pivotal tuning (--tune), one step at 1024:", flush=True)
    results["tune_step"] = bench_tune_step(device, repeats=1 if args.quick else 3)
    if not args.skip_e2e:
        runs = run_e2e(encoder, args, ("auto",) if args.quick else ("auto", "bf16"))
        results["e2e"] = runs["auto"]
        results["e2e_tune"] = runs.get("tune", {})
        if "bf16" in runs:
            results["e2e_bf16"] = runs["bf16"]
    del encoder

    g1024, g256, enc = gen_results["gen1024_b1"], gen_results["gen256_b1"], results["encoder_b1"]
    checks = {"gen1024>=40%": g1024["pct_peak"] >= 40, "gen256>=50%": g256["pct_peak"] >= 50,
              "encoder>=65%": enc["pct_peak"] >= 65,
              "batch4<=batch1": max(ratio.values()) <= 1.0}
    summary = (f"SUMMARY peak {peak:.0f} GFLOP/s | gen1024 {g1024['ms_per_frame']:.0f} ms/frame "
               f"({g1024['pct_peak']:.0f}%) | gen256 {g256['ms_per_frame']:.0f} ms ({g256['pct_peak']:.0f}%) | "
               f"b4/b1 {ratio[256]:.2f}/{ratio[1024]:.2f} | encoder {enc['ms_per_image']:.0f} ms "
               f"({enc['pct_peak']:.0f}%)")
    if "paste" in results:
        summary += f" | paste 12 MP {results['paste']['ms_per_frame']:.0f} ms/frame"
    if "winograd_speedup" in results:
        summary += " | Winograd gain " + "/".join(f"{r:.2f}x" for r in results["winograd_speedup"].values())
    if "e2e" in results:
        e2e = results["e2e"]
        if e2e.get("ok"):
            summary += f" | e2e 60-step 1024 morph {e2e['seconds']:.1f} s, peak RSS {e2e['peak_rss_mb']:.0f} MB"
            checks["e2e<=60s"] = e2e["seconds"] <= 60
            checks["rss<=2GB"] = e2e["peak_rss_mb"] <= 2000
        else:
            summary += f" | e2e FAILED ({e2e.get('error', '?')})"
            checks["e2e ran"] = False
    tune_step = statistics.median(results["tune_step"]["step_over_frame"])
    summary += f" | --tune step at 1024 = {tune_step:.1f} frames"
    if results.get("e2e_tune", {}).get("ok"):
        summary += f" | 1024 morph --tune peak RSS {results['e2e_tune']['peak_rss_mb']:.0f} MB"
        checks["tune rss<=2.5GB"] = results["e2e_tune"]["peak_rss_mb"] <= 2500
    if results.get("e2e_bf16", {}).get("ok"):
        summary += f" | with --precision bf16 {results['e2e_bf16']['seconds']:.1f} s"
    results["targets"] = checks
    summary += " | targets: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in checks.items())
    results["summary"] = summary
    return results


def image_diff(image: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """How far `image` is from the fp32 `reference`: raw max |diff|, and as shown (clamped to
    [-1, 1], 8-bit): max level difference and PSNR in dB."""
    image, reference = image.float(), reference.float()
    raw = (image - reference).abs().max().item()
    a = ((image.clamp(-1, 1) + 1) * 127.5).round()
    b = ((reference.clamp(-1, 1) + 1) * 127.5).round()
    mse = ((image.clamp(-1, 1) - reference.clamp(-1, 1)) ** 2).mean().item()
    psnr = float("inf") if mse == 0 else 10 * math.log10(4.0 / mse)
    return {"max_abs_diff": raw, "max_8bit_diff": (a - b).abs().max().item(), "psnr_db": psnr,
            "ref_max_abs": reference.abs().max().item()}


def bench_paste(repeats: int, face_size: int = 1024) -> dict | None:
    """`--paste` cost per frame: one 1024 face warped and blended into a 12 MP photo (CPU, OpenCV).

    Returns the median ms per frame and its parts (warp, blend + the photo copy), the one-off
    mask build, and the distribution over `repeats` frames; None without the align extra.
    """
    import numpy as np
    from PIL import Image

    from interp_cli import align
    from interp_cli.images import load_image
    from interp_cli.paste import Paster

    if not align.alignment_available():
        print("paste: skipped (the align extra is not installed)")
        return None
    source = load_image(ROOT / "tests" / "data" / "faces" / "obama.jpg")
    face = align.align_face(source, output_size=256)
    height = 3000
    scale = height / source.height
    width = round(source.width * scale)
    scaled = np.asarray(source.resize((width, height), Image.Resampling.LANCZOS))
    photo = np.pad(scaled, ((0, 0), (0, 4000 - width), (0, 0)), mode="edge")  # 4000 x 3000 = 12 MP
    centre = np.array([scale, height / source.height])
    quad, landmarks = (face.quad + 0.5) * centre - 0.5, (face.landmarks + 0.5) * centre - 0.5
    started = time.perf_counter()
    paster = Paster(photo, quad, landmarks, face_size=face_size)
    setup = time.perf_counter() - started
    faces = np.random.default_rng(0).integers(0, 256, (2, face_size, face_size, 3), dtype=np.uint8)
    paster.paste(faces[0])  # warm-up
    totals, warps, cpu = [], [], []
    for i in range(repeats):
        started = time.perf_counter()
        paster.warp(faces[i % 2])
        warps.append(time.perf_counter() - started)
        started, cpu_started = time.perf_counter(), time.process_time()
        paster.paste(faces[i % 2])
        totals.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)  # steadier than wall time on a busy machine
    x0, y0, x1, y1 = paster.box
    median = statistics.median(totals)
    result = {"ms_per_frame": median * 1e3, "ms_min": min(totals) * 1e3, "ms_max": max(totals) * 1e3,
              "warp_ms": statistics.median(warps) * 1e3, "cpu_ms_per_frame": statistics.median(cpu) * 1e3,
              "setup_ms": setup * 1e3,
              "photo": f"{photo.shape[1]}x{photo.shape[0]}", "box": f"{x1 - x0}x{y1 - y0}",
              "crop_side_px": round(float(np.hypot(*(quad[3] - quad[0]))))}
    print(f"paste ({face_size} face into a {result['photo']} photo, face box {result['box']}, crop "
          f"{result['crop_side_px']} px): {result['ms_per_frame']:.1f} ms/frame (min {result['ms_min']:.1f}, "
          f"max {result['ms_max']:.1f}; warp {result['warp_ms']:.1f} ms; CPU time "
          f"{result['cpu_ms_per_frame']:.1f} ms), mask built once in "
          f"{result['setup_ms']:.0f} ms", flush=True)
    return result


def bench_bf16(size: int, device: torch.device, repeats: int, probe: PeakProbe) -> dict:
    """Generator ms/frame under bf16 autocast (as `--precision bf16` renders), and its image vs fp32."""
    from interp_cli.render import autocast

    generator = random_generator(size, device)
    noise = generator.make_noise("const", device=device)
    latent = generator.mean_latent(512)[None, None].expand(1, generator.n_latent, -1).clone()
    latent += 0.5 * torch.randn_like(latent)
    flops = 2 * generator_macs(generator.config)

    def render(dtype=None):
        with torch.inference_mode(), autocast(device, dtype):
            return generator(latent, noise=noise).float()

    seconds, pct = time_vs_peak(lambda: render(torch.bfloat16), repeats, device, probe, flops)
    diff = image_diff(render(torch.bfloat16), render())
    print(f"generator {size} batch 1 with bf16 autocast (--precision bf16):")
    print(fmt_row(f"generator {size} bf16", seconds, "frame", flops, pct) + " (of the fp32 peak)")
    print("  vs fp32: " + ", ".join(f"{k} {v:.3g}" for k, v in diff.items()), flush=True)
    return {"ms_per_frame": seconds * 1e3, "pct_fp32_peak": pct, **diff}


def bench_tune_step(device: torch.device, repeats: int = 1, generator: torch.nn.Module | None = None) -> dict:
    """One `--tune` step (two faces: two pivots and one locality code; above 256 px one image per
    backward pass, see interp_cli/tune.py) of a random 1024 px generator, or of `generator`, as a
    multiple of one frame's render (batch 1, no grad), timed interleaved: frame, a 1-step tuning, a
    3-step tuning; a step is the difference of the two tunings / 2 (so the generator's copy and setup
    cancel out). `bare_tune_s`: what a bare --tune would take, the setup plus its steps."""
    from interp_cli.tune import DEFAULT_STEPS, tune_generator

    generator = random_generator(1024, device) if generator is None else generator
    noise = generator.make_noise("const", device=device)
    pivots = generator.mean_latent(64)[None, None].expand(2, generator.n_latent, -1).clone()
    pivots += 0.3 * torch.randn_like(pivots)
    with torch.no_grad():
        targets = generator(pivots, noise=noise).clamp(-1, 1).flip(-1)  # photos it does not draw exactly
    # Warm-up: first calls pay for kernel selection (cuDNN's autotuner, oneDNN's primitives).
    tune_generator(generator, targets, pivots, steps=1, noise=noise)
    frames, steps, setups = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            generator(pivots[:1], noise=noise)
        sync(device)
        t1 = time.perf_counter()
        tune_generator(generator, targets, pivots, steps=1, noise=noise)
        sync(device)
        t2 = time.perf_counter()
        tune_generator(generator, targets, pivots, steps=3, noise=noise)
        sync(device)
        t3 = time.perf_counter()
        frames.append(t1 - t0)
        steps.append(((t3 - t2) - (t2 - t1)) / 2)
        setups.append(max(0.0, (t2 - t1) - steps[-1]))
    ratios = [s / f for s, f in zip(steps, frames)]
    bare = statistics.median(setups) + DEFAULT_STEPS * statistics.median(steps)
    result = {"size": generator.size, "frame_s": frames, "step_s": steps, "step_over_frame": ratios,
              "bare_tune_s": bare}
    print(f"  --tune at {generator.size}, two faces: one step {statistics.median(steps):.2f} s "
          f"(min {min(steps):.2f}, max {max(steps):.2f}) = {statistics.median(ratios):.1f}x one frame's render "
          f"({statistics.median(frames):.3f} s; ratios {', '.join(f'{r:.1f}' for r in ratios)}); "
          f"a bare --tune ({DEFAULT_STEPS} steps) about {bare:.1f} s", flush=True)
    return result


# Runs argv[1:] (the CLI) and prints its last stdout line (the --json summary), then its exit
# code and its own peak RSS (ru_maxrss of the waited child).
_RSS_WRAPPER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
summary = proc.stdout.read().decode(errors="replace").strip()
_, status, usage = os.wait4(proc.pid, 0)
print(summary.splitlines()[-1] if summary else "{}")
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def run_e2e(encoder: Encoder4Editing, args, precisions: tuple[str, ...] = ("auto",),
            tune_steps: int = 2) -> dict[str, dict]:
    """Write a full-size random e4e checkpoint, then time the CLI's 60-step 1024 morph in a fresh
    process, once per `--precision` in `precisions`; then (`tune_steps` > 0) a two-face 1024 morph
    with `--tune tune_steps` (under "tune": its peak RSS is the figure, the steps only set its length)."""
    from interp_cli.files import fsync_path
    from interp_cli.models.checkpoint import save_e4e_checkpoint

    steps = 60
    results = {}
    with tempfile.TemporaryDirectory(prefix="interp-bench-") as tmp:
        ckpt = Path(tmp) / "e4e_random_1024.pt"
        generator = random_generator(1024, torch.device("cpu"))
        latent_avg = generator.mean_latent(512).expand(generator.n_latent, -1).clone()
        save_e4e_checkpoint(ckpt, generator, encoder.cpu(), latent_avg)
        del generator
        # On disk before the clock starts: otherwise the kernel writes 1.2 GB back during the run
        # (seconds of iowait and flusher CPU measured inside the morph). The file stays in the
        # page cache, as a checkpoint does on every run after a user's first.
        fsync_path(ckpt)
        for precision in precisions:
            print(f"end to end (CLI, fresh process, full-size random e4e checkpoint, --precision {precision}):",
                  flush=True)
            results[precision] = _e2e_once(ckpt, Path(tmp), steps, precision, args)
        if tune_steps:
            print(f"end to end with --tune {tune_steps} (CLI, fresh process, the same checkpoint):", flush=True)
            results["tune"] = _e2e_once(ckpt, Path(tmp), 2, "auto", args, extra=("--tune", str(tune_steps)))
    return results


def _e2e_once(ckpt: Path, tmp: Path, steps: int, precision: str, args, extra: tuple[str, ...] = ()) -> dict:
    out = tmp / f"out_{precision}{'_'.join(extra)}.mp4"
    cmd = [sys.executable, "-m", "interp_cli", str(GOLDEN / "golden_input_A.png"),
           str(GOLDEN / "golden_input_B.png"), "--weights", str(ckpt), "--no-align", "--steps", str(steps),
           "-o", str(out), "--device", args.device, "--precision", precision, "--quiet", "--json",
           "--no-cache", *extra]  # both images encoded
    print(f"  OMP_WAIT_POLICY for the CLI: {CALLER_WAIT_POLICY or 'unset (as the caller has it)'}")
    print(f"  checkpoint {ckpt.stat().st_size / 2 ** 20:.0f} MB; running: interp A.png B.png --weights CKPT "
          f"--no-align --steps {steps} -o out.mp4 --device {args.device} --precision {precision} --quiet "
          f"--no-cache {' '.join(extra)}", flush=True)
    log = tmp / "stderr.txt"
    t0 = time.perf_counter()
    with open(log, "wb") as err:
        env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(tmp / "cache"))
        env.pop("OMP_WAIT_POLICY", None)
        if CALLER_WAIT_POLICY is not None:
            env["OMP_WAIT_POLICY"] = CALLER_WAIT_POLICY
        # Launched from a small helper process: a child forked straight from this (multi-GB) bench
        # starts life sharing the bench's pages, and its ru_maxrss counts them (2.08 vs 1.67 GB).
        wrapper = run_child([sys.executable, "-c", _RSS_WRAPPER, *cmd], cwd=str(ROOT), stdout=subprocess.PIPE,
                            stderr=err, env=env, check=False)
    seconds = time.perf_counter() - t0
    lines = wrapper.stdout.decode(errors="replace").strip().splitlines()
    returncode, maxrss = (int(v) for v in lines[-1].split()) if lines else (-1, 0)
    try:
        timings = json.loads(lines[-2]).get("timings", {}) if len(lines) >= 2 else {}
    except ValueError:
        timings = {}
    # ru_maxrss is KiB on Linux, bytes on macOS; reported in MB (10^6 bytes) against "2 GB"
    rss_mb = maxrss * (1 if sys.platform == "darwin" else 1024) / 1e6
    ok = returncode == 0 and out.is_file() and out.stat().st_size > 0
    result = {"ok": ok, "seconds": seconds, "peak_rss_mb": rss_mb, "steps": steps, "returncode": returncode,
              "cli_timings": timings,
              "precision": precision, "mp4_bytes": out.stat().st_size if out.is_file() else 0}
    if not ok:
        lines = log.read_text(errors="replace").strip().splitlines()
        result["error"] = lines[-1] if lines else "?"
        print(f"  FAILED (exit {returncode}): {result['error']}")
    else:
        shown = f"{steps}-step 1024 morph" + (" " + " ".join(extra) if extra else "")
        print(f"  {shown}: {seconds:.1f} s wall ({seconds / steps * 1e3:.0f} ms/frame overall), "
              f"peak RSS {rss_mb:.0f} MB, MP4 {result['mp4_bytes'] / 1024:.0f} KiB", flush=True)
        if timings:
            startup = seconds - timings.get("total", seconds)
            print(f"  of which: start-up, imports and exit {startup:.1f} s, " + ", ".join(
                f"{k} {v:.1f} s" for k, v in timings.items() if k != "total"), flush=True)
    return result



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a rough number in less time)")
    parser.add_argument("--device", default="cpu",
                        help="cpu (default); cuda or mps runs the GPU sweep, benchmarks/bench_gpu.py")
    parser.add_argument("--skip-e2e", action="store_true", help="skip the end-to-end CLI morph")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="also write all numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device != "cpu":
        # The CPU figures (peak-relative convs, malloc, paste, CLI end to end) mean little on a GPU,
        # where throughput per precision and batch is the question: hand over to that sweep.
        import bench_gpu
        print(f"--device {args.device}: running the GPU sweep (benchmarks/bench_gpu.py)", flush=True)
        forwarded = ["--device", args.device] + (["--quick"] if args.quick else [])
        forwarded += (["--threads", str(args.threads)] if args.threads else [])
        forwarded += (["--json", str(args.json)] if args.json else [])
        return bench_gpu.main(forwarded)
    return run_and_report(run_cpu, args)


def run_and_report(run, args) -> int:
    """Run a benchmark, write its numbers to `--json` if asked, print its summary line."""
    t0 = time.perf_counter()
    results = run(args)
    results["bench_seconds"] = time.perf_counter() - t0
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(results["summary"] + f" | bench took {results['bench_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "bench"))
