"""The GPU sweep: generator frames/s per precision and batch size, and each precision's distance from fp32.

    python3 benchmarks/bench_gpu.py --device cuda --json gpu.json
    python3 benchmarks/bench_gpu.py --device cpu --quick --sizes 256     # the same sweep on a CPU (slow)

Reports frames/s of the generator at 1024 and 256 (`--sizes`) for batch 1/4/8 in strict fp32
(TF32 off), TF32 and fp16/bf16 autocast, each with its distance to strict fp32 (max |diff|,
8-bit levels, PSNR), plus the CUDA-vs-CPU fp32 difference, fp16 with NCHW instead of
channels_last, fp16 replayed from a CUDA graph, encoder images/s, and a kernel profile next to
`--json`. Loops are timed with one synchronisation per loop, none per frame. Networks have
random weights (nothing is downloaded); the helpers are shared with the CPU benchmark
(`benchmarks/bench.py`).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from bench import (conv_peak, encoder_macs, generator_macs, image_diff, random_encoder, random_generator,
                   run_and_report, sync)


def loop_seconds(fn, iters: int, device: torch.device, warmup: int = 2) -> float:
    """Seconds per call over `iters` back-to-back calls: one synchronisation per loop, none per call."""
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / iters


def set_tf32(on: bool) -> None:
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def run_sweep(args) -> dict:
    """Frames/s of the generator (and images/s of the encoder) per precision and batch size."""
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        name = f"{torch.cuda.get_device_name(device)}, cuDNN {torch.backends.cudnn.version()}"
    else:
        name = f"{device.type} ({platform.machine()})"
    print(f"interp bench (precision sweep): torch {torch.__version__}, {name}", flush=True)
    results: dict = {"device": name, "torch": torch.__version__}
    iters = 3 if args.quick else 10
    out_dir = Path(args.json).parent if args.json else None

    # Each mode: (label, autocast dtype or None, TF32 allowed). "fp32" is strict fp32 (no TF32):
    # the reference every other mode is compared against.
    modes = [("fp32", None, False), ("tf32", None, True), ("fp16", torch.float16, False),
             ("bf16", torch.bfloat16, False)]
    if not cuda:  # TF32 is CUDA-only, and CPU fp16 convs have no fast kernels
        modes = [m for m in modes if m[0] not in ("tf32", "fp16")]

    peaks = {}
    for label, dtype, tf32 in modes:
        set_tf32(tf32)
        peaks[label] = conv_peak(device, iters, dtype or torch.float32)["512@64"]
        print(f"  conv 512@64 3x3 {label}: {peaks[label] / 1e3:7.1f} TFLOP/s (batch 1)", flush=True)
    set_tf32(False)
    results["conv_peak_gflops"] = peaks

    def autocast(dtype):
        return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None,
                              cache_enabled=False)

    rows = []
    for size in args.sizes:
        generator = random_generator(size, device)
        flops = 2 * generator_macs(generator.config)
        noise = generator.make_noise("const", device=device)
        gen = torch.Generator().manual_seed(1)
        codes = torch.randn(8, generator.n_latent, generator.style_dim, generator=gen).to(device)
        codes = generator.mean_latent(2048).to(device) + 0.7 * codes  # W+ codes near the average
        with torch.inference_mode():
            reference = generator(codes[:4], noise=noise).float()      # strict fp32 (TF32 off)
        if cuda:  # the CUDA path (channels_last, batched modulation) against the CPU path, fp32
            cpu_generator = random_generator(size, torch.device("cpu"))
            with torch.inference_mode():
                cpu_image = cpu_generator(codes[:2].cpu(), noise=[n.cpu() for n in noise])
            cuda_vs_cpu = (reference[:2].cpu() - cpu_image).abs().max().item()
            results[f"gen{size}_cuda_vs_cpu_max_abs_diff"] = cuda_vs_cpu
            print(f"  gen {size:>4} fp32 cuda vs cpu, batch 2: max|diff| {cuda_vs_cpu:.2e} "
                  f"(images up to {cpu_image.abs().max().item():.2f})", flush=True)
            del cpu_generator
        scale = max(1, 1024 // size)
        for label, dtype, tf32 in modes:
            set_tf32(tf32)

            def render(w, dtype=dtype, g=generator, noise=noise):
                with torch.inference_mode(), autocast(dtype):
                    return g(w, noise=noise)

            with torch.inference_mode():
                quality = image_diff(render(codes[:4]), reference)
            print(f"  gen {size:>4} {label:<4} vs fp32: max|diff| {quality['max_abs_diff']:.2e} (images up to "
                  f"{quality['ref_max_abs']:.2f}), 8-bit max diff {quality['max_8bit_diff']:.0f}, "
                  f"PSNR {quality['psnr_db']:.1f} dB", flush=True)
            for batch in (1, 4, 8):
                n = max(2, iters * 8 // batch * scale // (1 if cuda else 8))
                seconds = loop_seconds(lambda w=codes[:batch], r=render: r(w), n, device)
                row = {"size": size, "mode": label, "batch": batch, "fps": batch / seconds,
                       "ms_per_frame": 1e3 * seconds / batch, "tflops": flops * batch / seconds / 1e12,
                       **{k + "_vs_fp32": v for k, v in quality.items()}}
                rows.append(row)
                print(f"  gen {size:>4} {label:<4} batch {batch}: {row['fps']:8.1f} frames/s  "
                      f"{row['ms_per_frame']:7.2f} ms/frame  {row['tflops']:6.1f} TFLOP/s", flush=True)
        set_tf32(False)
        if cuda:
            rows += gpu_variants(generator, codes, noise, flops, size, iters * scale, autocast, out_dir)
        del generator
        if cuda:
            torch.cuda.empty_cache()
    results["generator"] = rows

    encoder = random_encoder(device)
    enc_flops = 2 * encoder_macs(encoder, 256)
    x = torch.rand(8, 3, 256, 256, device=device) * 2 - 1
    with torch.inference_mode():
        enc_ref = encoder(x[:2]).float()
    enc_rows = []
    for label, dtype, tf32 in modes:
        set_tf32(tf32)

        def encode(xb, dtype=dtype):
            with torch.inference_mode(), autocast(dtype):
                return encoder(xb)

        with torch.inference_mode():
            diff = (encode(x[:2]).float() - enc_ref).abs().max().item()
        for batch in (1, 8):
            seconds = loop_seconds(lambda b=batch, e=encode: e(x[:b]), iters, device)
            enc_rows.append({"mode": label, "batch": batch, "images_per_s": batch / seconds,
                             "tflops": enc_flops * batch / seconds / 1e12, "max_abs_diff_vs_fp32": diff})
            print(f"  encoder {label:<4} batch {batch}: {batch / seconds:8.1f} images/s  "
                  f"{enc_flops * batch / seconds / 1e12:6.1f} TFLOP/s  max|diff| vs fp32 {diff:.2e}", flush=True)
        set_tf32(False)
    results["encoder"] = enc_rows

    def best(size, mode):
        return max((r["fps"] for r in rows if r["size"] == size and r["mode"] == mode), default=float("nan"))

    results["summary"] = ("SUMMARY " + name + " | " + " | ".join(
        f"gen{s} frames/s (best batch) " + " / ".join(f"{m[0]} {best(s, m[0]):.0f}" for m in modes)
        for s in args.sizes))
    return results


def gpu_variants(generator, codes, noise, flops, size, iters, autocast, out_dir) -> list[dict]:
    """CUDA only: fp16 with NCHW activations instead of channels_last, fp16 replayed from a CUDA
    graph (no launch overhead), and a profile of fp16 batch 8 (top kernels) written to out_dir."""
    device = codes.device
    rows = []

    def render(w):
        with torch.inference_mode(), autocast(torch.float16):
            return generator(w, noise=noise)

    generator.CHANNELS_LAST_ON = ()
    for batch in (1, 8):
        seconds = loop_seconds(lambda w=codes[:batch]: render(w), max(2, iters * 8 // batch), device)
        rows.append({"size": size, "mode": "fp16-nchw", "batch": batch, "fps": batch / seconds,
                     "ms_per_frame": 1e3 * seconds / batch, "tflops": flops * batch / seconds / 1e12})
        print(f"  gen {size:>4} fp16 NCHW   batch {batch}: {batch / seconds:8.1f} frames/s", flush=True)
    del generator.CHANNELS_LAST_ON  # back to the class default (channels_last)

    for batch in (1, 8):
        static = codes[:batch].clone()
        try:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):
                    render(static)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                image = render(static)
            seconds = loop_seconds(graph.replay, max(2, iters * 8 // batch), device)
            eager = render(static)
            diff = (image.float() - eager.float()).abs().max().item()
        except Exception as err:  # report it and go on: the other numbers still count
            print(f"  gen {size:>4} fp16 graph  batch {batch}: capture failed: {type(err).__name__}: {err}")
            continue
        rows.append({"size": size, "mode": "fp16-graph", "batch": batch, "fps": batch / seconds,
                     "ms_per_frame": 1e3 * seconds / batch, "tflops": flops * batch / seconds / 1e12,
                     "max_abs_diff_vs_eager": diff})
        print(f"  gen {size:>4} fp16 graph  batch {batch}: {batch / seconds:8.1f} frames/s  "
              f"(replay vs eager max|diff| {diff:.1e})", flush=True)
        del graph

    if out_dir is not None:
        from torch.profiler import ProfilerActivity, profile

        try:
            w = codes[:8]
            render(w)
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                render(w)
                torch.cuda.synchronize()
            table = prof.key_averages().table(sort_by="self_device_time_total", row_limit=30,
                                              max_name_column_width=70)
            (out_dir / f"profile_gen{size}_fp16_b8.txt").write_text(table)
        except Exception as err:  # a profile is a nice-to-have
            print(f"  profile failed: {type(err).__name__}: {err}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), mps or cpu")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a rough number in less time)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 256],
                        help="generator sizes (default 1024 256)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write all numbers to this JSON file (and a CUDA kernel profile beside it)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    return run_and_report(run_sweep, args)


if __name__ == "__main__":
    sys.exit(main())
