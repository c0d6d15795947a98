"""The prepared GPU check of issue 33, in one run of under 8 minutes: prints markdown tables.

    bash benchmarks/device_check.sh                 # on a CUDA machine (see benchmarks/README.md)
    python3 benchmarks/device_check.py --dry-run    # every step on the CPU at toy sizes (a typo check)

In the order they run (what a user sees first; torch.compile, whose first call has no time limit of
its own, last), report.md / report.json written to --out after each part:

1. The CLI end to end: `interp A B --steps 60 -o out.mp4` with a full-size random e4e
   checkpoint, no alignment, in a fresh process; wall time and the time inside interp.
2. `interp batch`: 6 rows of 60 frames at 1024, rows per hour.
3. `--tune` (issue 31): one tuning step of two faces at 1024 as a multiple of one frame's render,
   and what a bare --tune takes (`bench.bench_tune_step`).
4. The generator sweep at 1024 px: strict fp32 (TF32 off), TF32, bf16 and fp16 autocast x
   channels_last / NCHW / auto layout x blur / folded upsampling x batch 1, 4, 8, frames/s; each
   mode's frames against strict fp32 (max 8-bit difference, PSNR), then torch.compile where it
   compiles in time.

Without imageio-ffmpeg (no MP4 writer) steps 1 and 2 write PNG frames to a folder instead, and the
report says so in one line.
Without CUDA it says so and exits 0 (nothing to measure); --dry-run runs the same code on the CPU
with a 16 px generator, 4-frame morphs and 2 rows: every sweep mode, the same --precision values (bf16
for fp16 where this torch's CPU autocast has none) and --tune on the large-model path. Timings: one
synchronisation per timed loop. Every part has a time budget; what does not fit is listed as skipped,
not silently dropped; a mode that fails is listed as failed, and the sweep's rows are saved as they come.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "golden"
MODES = {"fp32": (None, False), "tf32": (None, True), "bf16": (torch.bfloat16, False), "fp16": (torch.float16, False)}
LAYOUTS = ("channels_last", "nchw", "auto")
UPSAMPLINGS = ("blur", "folded")
BATCHES = (1, 4, 8)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def set_tf32(on: bool) -> None:
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def seconds_per_call(fn, device: torch.device, min_seconds: float, warmup: int = 2) -> float:
    """Back-to-back calls for at least `min_seconds` (at least 2), one synchronisation per loop.
    `min_seconds` 0 (--dry-run): one call, no warm-up."""
    if min_seconds <= 0:
        t0 = time.perf_counter()
        fn()
        sync(device)
        return max(time.perf_counter() - t0, 1e-9)
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    once = max(time.perf_counter() - t0, 1e-6)
    n = max(2, math.ceil(min_seconds / once))
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / n


def frames_diff(frames: np.ndarray, reference: np.ndarray) -> dict:
    """Max 8-bit difference and PSNR (dB, peak 255) of uint8 frames against the reference frames."""
    diff = np.abs(frames.astype(np.int16) - reference.astype(np.int16))
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    return {"max_8bit": int(diff.max()), "psnr_db": 100.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)}


def toy_generator(device: torch.device):
    """--dry-run: a 16 px generator with narrow layers (same code paths, a few ms a frame)."""
    from interp_cli.models.stylegan2 import Generator, GeneratorConfig

    torch.manual_seed(0)
    config = GeneratorConfig(size=16, style_dim=32, n_mlp=2, channels={4: 32, 8: 32, 16: 16})
    return Generator(config).eval().requires_grad_(False).to(device)


def sweep(device: torch.device, size: int, min_seconds: float, budget_s: float, compile_too: bool,
          compile_budget_s: float = 0.0, toy: bool = False, before_compile=None, after_row=None) -> dict:
    """Frames/s of the generator per mode x layout x upsampling x batch, and each mode's distance
    from strict fp32 (channels_last, blur: the default path) at batch 4. `budget_s` and `compile_budget_s`
    count from the sweep's start: no eager row starts after the first, no compilation after the second.
    `after_row(result)` is called with the rows so far after each configuration (so a run killed mid-sweep
    keeps them), `before_compile(result)` with the eager rows before torch.compile starts (whose first call
    has no time limit). A configuration that fails (bf16 on a GPU without it, out of memory) is listed
    under "failed" with its error, and the sweep goes on. `toy` (--dry-run) runs every mode, TF32 and fp16
    included, on the CPU: the real run's code paths, at no speed that means anything."""
    from bench import random_generator
    from interp_cli.render import _uint8_on_device, autocast, autocast_refusal

    started = time.perf_counter()
    generator = toy_generator(device) if toy else random_generator(size, device)
    size = generator.size
    noise = generator.make_noise("const", device=device)
    gen = torch.Generator().manual_seed(1)
    codes = torch.randn(8, generator.n_latent, generator.style_dim, generator=gen).to(device)
    codes = generator.mean_latent(2048).to(device) + 0.7 * codes

    def render(batch: int, dtype):
        with torch.inference_mode(), autocast(device, dtype):
            return _uint8_on_device(generator(codes[:batch], noise=noise))

    set_tf32(False)
    generator.layout = "channels_last"
    reference = render(4, None).cpu().numpy()
    rows, skipped, failed = [], [], []
    result = {"size": size, "rows": rows, "compiled": [], "skipped": skipped, "failed": failed}
    configs = [(m, lay, up) for m in MODES for lay in LAYOUTS for up in UPSAMPLINGS]
    for mode, layout, upsampling in configs:
        if device.type != "cuda" and mode in ("tf32", "fp16") and not toy:
            continue  # CUDA only (TF32), and no fast CPU fp16 convs
        if time.perf_counter() - started > budget_s:
            skipped.append(f"{mode}/{layout}/{upsampling}")
            continue
        dtype, tf32 = MODES[mode]
        refusal = dtype is not None and autocast_refusal(device, dtype)  # e.g. bf16 on a GPU without it
        if refusal:
            failed.append(f"{mode}/{layout}/{upsampling} ({refusal})")
            print(f"  gen {size} {mode:<4} {layout:<13} {upsampling:<6}: not run: {refusal}", flush=True)
            continue
        set_tf32(tf32)
        generator.layout = layout
        generator.set_upsampling(upsampling)
        try:
            quality = frames_diff(render(4, dtype).cpu().numpy(), reference)
            for batch in BATCHES:
                seconds = seconds_per_call(lambda b=batch, d=dtype: render(b, d), device, min_seconds)
                rows.append({"mode": mode, "layout": layout, "upsampling": upsampling, "batch": batch,
                             "fps": batch / seconds, **quality})
                print(f"  gen {size} {mode:<4} {layout:<13} {upsampling:<6} batch {batch}: {batch / seconds:8.1f} "
                      f"frames/s, vs fp32 max {quality['max_8bit']} levels, {quality['psnr_db']:.1f} dB", flush=True)
        except Exception as err:  # a mode this GPU or torch lacks is a finding, not the end of the check
            why = f"{type(err).__name__}: {' '.join(str(err).split())[:160]}"
            failed.append(f"{mode}/{layout}/{upsampling} ({why})")
            print(f"  gen {size} {mode:<4} {layout:<13} {upsampling:<6}: FAILED: {why}", flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()  # what an out-of-memory batch left behind
        if after_row is not None:
            after_row(result)
    set_tf32(False)
    generator.layout = "auto"
    generator.set_upsampling("blur")
    if compile_too:
        if before_compile is not None:
            before_compile(result)
        result["compiled"] = compiled_sweep(generator, codes, noise, reference, device, min_seconds,
                                            compile_budget_s - (time.perf_counter() - started),
                                            compiler=_dry_run_compiler if toy else None, skipped=skipped)
    return result


def _dry_run_compiler(module, **options):
    """--dry-run: a compiler that fails on the first call (compiling for real takes minutes on a CPU),
    so the fallback to eager and the report's rows are what gets checked."""
    def fail(*args, **kwargs):
        raise RuntimeError("dry run: not compiled")

    return fail


def compiled_sweep(generator, codes, noise, reference, device, min_seconds, budget_s, compiler=None,
                   skipped: list[str] | None = None) -> list[dict]:
    """fp16 (bf16 off CUDA) at batch 8 and 1 through `render.compile_generator`, which falls back to
    eager on failure. Two compilations only (one per batch size: each new shape, dtype or upsampling
    mode recompiles, at tens of seconds each); their frames are compared with the reference's."""
    from interp_cli.render import _uint8_on_device, autocast, compile_generator

    rows = []
    started = time.perf_counter()
    messages: list[str] = []
    run = compile_generator(generator, log=messages.append, compiler=compiler)
    mode = "fp16" if device.type == "cuda" else "bf16"
    dtype = MODES[mode][0]
    for batch in (8, 1):
        if time.perf_counter() - started > budget_s:
            print(f"  compiled {mode} batch {batch}: skipped (time budget)")
            if skipped is not None:
                skipped.append(f"{mode}+compile batch {batch}")
            continue

        def render(b=batch):
            with torch.inference_mode(), autocast(device, dtype):
                return _uint8_on_device(run(codes[:b], noise=noise))

        try:
            t0 = time.perf_counter()
            first = render().cpu().numpy()  # compiles
            compile_s = time.perf_counter() - t0
            n = min(batch, len(reference))
            quality = frames_diff(first[:n], reference[:n])
            seconds = seconds_per_call(render, device, min_seconds)
        except Exception as err:  # a compile problem is a finding, not a crash
            print(f"  compiled {mode} batch {batch}: failed: {type(err).__name__}: {err}")
            continue
        rows.append({"mode": f"{mode}+compile", "layout": "auto", "upsampling": "blur", "batch": batch,
                     "fps": batch / seconds, "compile_s": compile_s, "fell_back": bool(messages), **quality})
        print(f"  compiled {mode} batch {batch}: {batch / seconds:8.1f} frames/s (first call {compile_s:.1f} s"
              f"{', FELL BACK to eager: ' + messages[0] if messages else ''})", flush=True)
    return rows


def dry_run_low_precision() -> str:
    """The CLI's --precision for the real run's fp16 steps in a dry run: fp16 where this torch's CPU autocast
    takes it, else bf16."""
    from interp_cli.render import autocast_refusal

    return "fp16" if autocast_refusal(torch.device("cpu"), torch.float16) is None else "bf16"


@contextlib.contextmanager
def large_model_tuning(toy: bool):
    """--dry-run: the toy generator tuned as the real run's 1024 px one is, on its image at a smaller size,
    one image per backward pass (`tune.ONE_PASS_UP_TO`, which the toy's 16 px would stay under)."""
    if not toy:
        yield
        return
    from interp_cli import tune

    saved, tune.ONE_PASS_UP_TO = tune.ONE_PASS_UP_TO, 8
    try:
        yield
    finally:
        tune.ONE_PASS_UP_TO = saved


def write_checkpoint(path: Path, size: int, toy: bool = False) -> None:
    """A random e4e checkpoint of the full layout (generator `size`, IR-SE-50 encoder), or with
    `toy` the test suite's tiny one (16 px)."""
    from bench import random_encoder, random_generator
    from interp_cli.files import fsync_path
    from interp_cli.models.checkpoint import save_e4e_checkpoint

    cpu = torch.device("cpu")
    if toy:
        from tests.conftest import build_tiny_model

        generator, encoder, latent_avg = build_tiny_model()
    else:
        generator, encoder = random_generator(size, cpu), random_encoder(cpu)
        latent_avg = generator.mean_latent(512).expand(generator.n_latent, -1).clone()
    save_e4e_checkpoint(path, generator, encoder, latent_avg)
    fsync_path(path)  # on disk before any clock starts


def cli(args: list[str], device: str, env_dir: Path) -> tuple[float, dict, str]:
    """Run `python -m interp_cli ARGS --device DEVICE --json --quiet` in a fresh process:
    (wall seconds, the last JSON line, the last stderr line)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(env_dir / "cache"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "interp_cli", *args, "--device", device, "--json", "--quiet"]
    t0 = time.perf_counter()
    proc = run_child(cmd, cwd=str(ROOT), env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    lines = proc.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1]) if lines else {}
    except ValueError:
        summary = {}
    summary["exit_code"] = proc.returncode
    err = proc.stderr.strip().splitlines()
    return wall, summary, err[-1] if err else ""


def mp4_unavailable() -> str | None:
    """Why this machine cannot write MP4s (one line), or None when it can: the CLI's MP4 writer runs
    imageio-ffmpeg's ffmpeg binary. `DEVICE_CHECK_FFMPEG`, set by device_check.sh, says why the wheel in
    .whl/ could not be installed."""
    try:
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as err:  # ImportError, or a wheel without a binary for this platform
        why = os.environ.get("DEVICE_CHECK_FFMPEG") or f"{type(err).__name__}: {' '.join(str(err).split())[:160]}"
        return f"no MP4 writer ({why}): the CLI steps write PNG frames to a folder instead of MP4"
    return None


def output_for(tmp: Path, stem: str, mp4: bool) -> str:
    """A CLI output: `stem.mp4`, or without an MP4 writer a frames folder `stem/` (PNG frames)."""
    return str(tmp / f"{stem}.mp4") if mp4 else os.path.join(str(tmp / stem), "")


def written(output: str) -> bool:
    path = Path(output)
    return path.is_file() if not output.endswith(os.sep) else path.is_dir() and any(path.iterdir())


def end_to_end(ckpt: Path, tmp: Path, device: str, steps: int, precisions: list[str], repeats: int,
               mp4: bool = True) -> list[dict]:
    rows = []
    for precision in precisions:
        for i in range(repeats):
            out = output_for(tmp, f"e2e_{precision}_{i}", mp4)
            wall, summary, err = cli([str(GOLDEN / "golden_input_A.png"), str(GOLDEN / "golden_input_B.png"),
                                      "--weights", str(ckpt), "--no-align", "--no-cache", "--steps", str(steps),
                                      "-o", out, "--precision", precision], device, tmp)
            ok = summary["exit_code"] == 0 and written(out)
            timings = summary.get("timings", {})
            rows.append({"precision": precision, "ok": ok, "wall_s": wall, "inside_s": timings.get("total"),
                         "timings": timings, "error": None if ok else err, "output": "mp4" if mp4 else "png frames"})
            print(f"  e2e {steps}-step morph --precision {precision}{'' if mp4 else ' (PNG frames, no MP4)'}: "
                  + (f"{wall:.2f} s wall, {timings.get('total', float('nan')):.2f} s inside interp "
                     + json.dumps(timings) if ok else f"FAILED (exit {summary['exit_code']}): {err}"), flush=True)
    return rows


def batch_throughput(ckpt: Path, tmp: Path, device: str, steps: int, rows: int, precision: str,
                     mp4: bool = True) -> dict:
    manifest = tmp / "pairs.csv"
    a, b = GOLDEN / "golden_input_A.png", GOLDEN / "golden_input_B.png"
    out = "row{}.mp4" if mp4 else "row{}/"  # without an MP4 writer, a frames folder per row
    manifest.write_text("".join(f"{a},{b},{out.format(i)}\n" if i % 2 else f"{b},{a},{out.format(i)}\n"
                                for i in range(rows)))
    wall, summary, err = cli(["batch", str(manifest), "--outdir", str(tmp / "batch"), "--weights", str(ckpt),
                              "--no-align", "--steps", str(steps), "--precision", precision], device, tmp)
    made = summary.get("made", 0)
    seconds = summary.get("seconds") or wall
    result = {"rows": rows, "made": made, "wall_s": wall, "inside_s": seconds, "precision": precision,
              "rows_per_hour": 3600 * made / seconds if made else 0.0, "error": None if made == rows else err,
              "output": "mp4" if mp4 else "png frames"}
    print(f"  batch {rows} rows x {steps} frames --precision {precision}{'' if mp4 else ' (PNG frames, no MP4)'}: "
          f"{made} made, {seconds:.1f} s inside "
          f"interp ({wall:.1f} s wall): {result['rows_per_hour']:.0f} rows/hour" + (f"; {err}" if result["error"]
                                                                                      else ""), flush=True)
    return result


def markdown(report: dict) -> str:
    lines = [f"device check: {report['device']}, torch {report['torch']}", ""]
    lines += [f"note: {note}" for note in report.get("notes", [])] + ([""] if report.get("notes") else [])
    sw = report.get("sweep")
    if sw:
        lines += [f"| {sw['size']} px generator, frames/s | layout | upsampling | batch 1 | batch 4 | batch 8 | "
                  f"max 8-bit diff vs strict fp32 | PSNR dB |", "|---|---|---|---|---|---|---|---|"]
        table: dict = {}
        for r in sw["rows"] + sw["compiled"]:
            # A compiled row whose compiler failed ran eagerly: labelled so, and never "best".
            mode = r["mode"] + (" (fell back to eager)" if r.get("fell_back") else "")
            table.setdefault((mode, r["layout"], r["upsampling"]), {})[r["batch"]] = r
        for (mode, layout, up), by_batch in table.items():
            any_row = next(iter(by_batch.values()))
            cells = [f"{by_batch[b]['fps']:.0f}" if b in by_batch else "-" for b in BATCHES]
            lines.append(f"| {mode} | {layout} | {up} | " + " | ".join(cells)
                         + f" | {any_row['max_8bit']} | {any_row['psnr_db']:.1f} |")
        if sw["skipped"]:
            lines.append(f"\nskipped (time budget): {', '.join(sw['skipped'])}")
        if sw.get("failed"):
            lines.append(f"\nfailed: {'; '.join(sw['failed'])}")
        best = max([r for r in sw["rows"] + sw["compiled"] if not r.get("fell_back")], key=lambda r: r["fps"],
                   default=None)
        if best is not None:
            lines.append(f"\nbest: {best['mode']} {best['layout']} {best['upsampling']} batch {best['batch']}: "
                         f"{best['fps']:.0f} frames/s, {best['max_8bit']} levels from strict fp32 (goal >= 600, <= 3)")
    e2e = report.get("e2e")
    if e2e:
        lines += ["", f"| CLI morph, {report['steps']} steps | wall s | inside interp s | load | encode | likeness "
                      "| render |",
                  "|---|---|---|---|---|---|---|"]
        for r in e2e:
            t = r["timings"]
            label = "" if r.get("output", "mp4") == "mp4" else " (PNG frames, no MP4)"
            lines.append(f"| --precision {r['precision']}{label} | {r['wall_s']:.2f} | "
                         + (" | ".join(f"{t.get(k, float('nan')):.2f}" for k in ("total", "load", "encode",
                                                                                  "likeness", "render"))
                            if r["ok"] else f"failed: {r['error']} | | | | |") + " |")
        lines.append("(goal: <= 3 s inside interp)")
    tn = report.get("tune")
    if tn:
        middle = len(tn["step_s"]) // 2
        step, ratio = sorted(tn["step_s"])[middle], sorted(tn["step_over_frame"])[middle]
        lines += ["", f"--tune at {tn['size']} px, two faces: one step {step:.3f} s = {ratio:.1f}x one frame's "
                      f"render (fp32, batch 1); a bare --tune about {tn['bare_tune_s']:.1f} s"]
    bt = report.get("batch")
    if bt:
        label = "" if bt.get("output", "mp4") == "mp4" else " (PNG frames, no MP4)"
        lines += ["", f"interp batch, {bt['rows']} rows of {report['steps']} frames, --precision {bt['precision']}"
                      f"{label}: "
                      f"{bt['made']} made in {bt['inside_s']:.1f} s -> {bt['rows_per_hour']:.0f} rows/hour "
                      f"(goal >= 3000)" + (f"; error: {bt['error']}" if bt["error"] else "")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="toy sizes on the CPU: checks the script, measures nothing")
    parser.add_argument("--budget", type=float, default=420, help="seconds for the whole check (default 420)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--out", type=Path, default=None, help="also write report.json and report.md here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.dry_run:
        device, size, steps, rows, min_seconds, e2e_repeats = "cpu", 16, 4, 2, 0.0, 1
    else:
        if not torch.cuda.is_available():
            print("device check: no CUDA device on this machine, so nothing was measured; the GPU table stays "
                  "pending (run `bash benchmarks/device_check.sh` where CUDA is available, or --dry-run to "
                  "check the script on this CPU)")
            return 0
        torch.backends.cudnn.benchmark = True
        device, size, steps, rows, min_seconds, e2e_repeats = "cuda", 1024, 60, 6, 0.25, 2
    # The dry run asks the CLI for the same precisions (fp16 on a CPU is slow, not wrong, at toy sizes), but
    # for a torch whose CPU autocast takes no fp16 (2.1), which the CLI refuses: bf16 runs the same code.
    low = dry_run_low_precision() if args.dry_run else "fp16"
    precisions, batch_precision = ["auto", low], low
    name = (f"{torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()}" if device == "cuda"
            else "cpu (dry run: toy sizes, no meaning)")
    print(f"device check: {name}, torch {torch.__version__}", flush=True)
    report: dict = {"device": name, "torch": torch.__version__, "steps": steps, "notes": []}
    no_mp4 = mp4_unavailable()
    if no_mp4:
        report["notes"].append(no_mp4)
        print(f"device check: {no_mp4}", flush=True)

    def save(pending: str | None = None) -> None:
        """report.md / report.json as they stand, after every part: a part that overruns the outer
        timeout (a slow torch.compile) loses only itself. `pending`: the part now starting."""
        if not args.out:
            return
        shown = dict(report, notes=report["notes"] + ([f"{pending}: started, not finished (if this line stays, "
                                                       "the check was killed during it)"] if pending else []))
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(shown, indent=1))
        (args.out / "report.md").write_text(markdown(shown) + "\n")

    def left(until: float) -> float:
        """Seconds until `until` x the budget has passed since the start."""
        return until * args.budget - (time.perf_counter() - started)

    # The CLI end to end, batch and tune first (what a user sees), then the generator sweep, and
    # torch.compile last: its first call has no time limit of its own (minutes with graph breaks).
    save("the CLI end to end")
    with tempfile.TemporaryDirectory(prefix="interp-device-check-") as tmp:
        tmp = Path(tmp)
        ckpt = tmp / f"e4e_random_{size}.pt"
        write_checkpoint(ckpt, size, toy=args.dry_run)
        report["e2e"] = end_to_end(ckpt, tmp, device, steps, precisions, e2e_repeats, mp4=not no_mp4)
        save("interp batch")
        if left(0.45) > 0:
            report["batch"] = batch_throughput(ckpt, tmp, device, steps, rows, batch_precision, mp4=not no_mp4)
        else:
            report["notes"].append("interp batch: skipped (time budget)")
            print("  batch: skipped (time budget)")
        save("--tune")
    if left(0.55) > 0:
        from bench import bench_tune_step, random_generator

        where = torch.device(device)
        set_tf32(False)  # the frame it is compared with in strict fp32, as --tune runs (interp_cli.torch_flags)
        generator = toy_generator(where) if args.dry_run else random_generator(size, where)
        with large_model_tuning(args.dry_run):
            report["tune"] = bench_tune_step(where, repeats=1 if args.dry_run else 3, generator=generator)
        del generator
    else:
        report["notes"].append("--tune: skipped (time budget)")
        print("  tune: skipped (time budget)")
    if device == "cuda":
        torch.cuda.empty_cache()
    save("the generator sweep")

    def before_compile(eager: dict) -> None:
        report["sweep"] = eager
        save("torch.compile")

    def after_row(so_far: dict) -> None:
        report["sweep"] = so_far
        save("the generator sweep")

    report["sweep"] = sweep(torch.device(device), size, min_seconds, budget_s=max(0.0, left(0.8)),
                            compile_too=not args.no_compile, compile_budget_s=max(0.0, left(0.95)),
                            toy=args.dry_run, before_compile=before_compile, after_row=after_row)
    text = markdown(report)
    print("\n" + text + f"\n\n(device check took {time.perf_counter() - started:.0f} s)")
    save()
    failed = [r for r in report.get("e2e", []) if not r["ok"]]
    if report.get("batch") and report["batch"]["error"]:
        failed.append(report["batch"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_script(main, "device_check"))
