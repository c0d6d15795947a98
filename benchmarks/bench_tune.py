"""`--tune` on the demo model, measured through the CLI on held-out demo faces (issue 31's goals).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_tune.py [--pairs 4] [--tune ""] [--steps 3]
    PYTHONPATH=. .venv/bin/python benchmarks/bench_tune.py --sweep '[{"steps": 80, "lr": 0.002}]'

Faces 2k and 2k+1 of the held-out set (seed 1, drawn at 256 px, so the encoder resizes each input
to the model's 64 px) are morphed in `--steps 3` by `interp ... --weights demo -o frames/`, once
without and once with `--tune` (`--no-cache`, so every run tunes), the two runs of a pair timed
back to back in alternating order. Each run's first and last frames are compared with its inputs
as the encoder saw them (`preprocess` to 64 px): PSNR and sharpness (mean gradient magnitude) over
the inputs'; its middle frame with the true in-between (the two faces' parameters blended half way,
drawn at 256 px and resized the same way): PSNR, and sharpness over the inputs'. Prints one JSON
document: both runs' metrics, and the tuned/untuned ratios of wall time and of the process's CPU time
(user + system; less moved by other load on a shared machine), min, median and max over the pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_script, script_temp, start_child, wait_usage  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from interp_cli.models.e4e import preprocess  # noqa: E402
from weights.eval_demo import heldout_faces, psnr, sharpness, true_midpoints  # noqa: E402

SIZE = 64  # the demo model's resolution


def as_model_sees(images: np.ndarray) -> torch.Tensor:
    """uint8 `[N, H, W, 3]` -> `[N, 3, 64, 64]` in [0, 1], resized as the encoder resizes its input."""
    return torch.cat([(preprocess(Image.fromarray(img), SIZE) + 1) / 2 for img in images]).clamp(0, 1)


def read_frames(directory: Path) -> torch.Tensor:
    files = sorted(directory.glob("frame_*.png"))
    return torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB")).copy()).permute(2, 0, 1)
                        for f in files]).float().div(255)


def run_cli(args: list[str], env: dict, stdout=subprocess.DEVNULL) -> tuple[float, float]:
    """Run `interp ARGS`: (wall seconds, CPU seconds of the process, user + system). `stdout`: where its
    standard output goes (an open file for `--json`), by default nowhere."""
    started = time.perf_counter()
    child = start_child([sys.executable, "-m", "interp_cli", *args], env=env, cwd=str(ROOT), stdout=stdout)
    usage = wait_usage(child)
    if child.returncode:
        raise SystemExit(f"interp {' '.join(args)} failed with exit {child.returncode}")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def metrics(frames: list[torch.Tensor], inputs: torch.Tensor, truth: torch.Tensor) -> dict:
    ends = torch.stack([torch.stack([f[0], f[-1]]) for f in frames])          # [P, 2, 3, S, S]
    mids = torch.stack([f[len(f) // 2] for f in frames])
    flat_ends, flat_inputs = ends.flatten(0, 1), inputs.flatten(0, 1)
    sharp_in = sharpness(flat_inputs).view(-1, 2)
    return {
        "end_psnr": round(float(psnr(flat_ends, flat_inputs).mean()), 2),
        "end_sharpness": round(float((sharpness(flat_ends) / sharpness(flat_inputs)).mean()), 3),
        "mid_psnr_vs_truth": round(float(psnr(mids, truth).mean()), 2),
        "mid_sharpness": round(float((sharpness(mids) / sharp_in.mean(1)).mean()), 3),
    }


def sweep(pairs: int, configs: list[dict]) -> None:
    """In process (no PNG round trip, one thread): the same faces and metrics for `tune_generator` with
    other settings. Each config is `tune_generator`'s keywords (steps, lr, locality) plus, in capitals,
    module constants of interp_cli.tune to set first (e.g. LAP_WEIGHT); a constant keeps its value for
    the configs after it. `"perceptual": W` (an experiment, not in interp_cli) adds W x the e4e-feature
    distance (`perceptual_loss`) to the tuning loss. Prints one line per config: end PSNR, end
    sharpness, midpoint PSNR against the true in-between, midpoint sharpness (as `metrics`), and
    seconds per pair."""
    from interp_cli import tune
    from interp_cli.weights import resolve_weights
    from weights.eval_demo import encode, load_model, to_unit

    torch.set_num_threads(1)
    model = load_model(resolve_weights("demo").path)
    generator, noise = model.generator, model.generator.make_noise("const")
    faces = heldout_faces(2 * pairs, 256)
    inputs = as_model_sees(faces)
    truth = as_model_sees(true_midpoints(2 * pairs, 256))[0::2]
    codes = encode(model, faces)

    @torch.no_grad()
    def frames(gen, k):
        a, b = codes[2 * k], codes[2 * k + 1]
        return to_unit(gen(torch.stack([a, torch.lerp(a, b, 0.5), b]), noise=noise))

    print("untuned", metrics([frames(generator, k) for k in range(pairs)], inputs.view(pairs, 2, 3, SIZE, SIZE),
                             truth), flush=True)
    plain_loss = tune._loss
    for config in configs:
        for name in [k for k in config if k.isupper()]:
            setattr(tune, name, config.pop(name))
        weight = config.pop("perceptual", 0)
        tune._loss = perceptual_loss(model.encoder, plain_loss, weight) if weight else plain_loss
        shown, started, results = dict(config), time.perf_counter(), []
        for k in range(pairs):
            tuned = tune.tune_generator(generator, inputs[2 * k:2 * k + 2] * 2 - 1, codes[2 * k:2 * k + 2],
                                        noise=noise, **config)
            results.append(frames(tuned, k))
        shown.update({"perceptual": weight} if weight else {})
        print(shown, f"LAP_WEIGHT={tune.LAP_WEIGHT}", metrics(results, inputs.view(pairs, 2, 3, SIZE, SIZE), truth),
              f"{(time.perf_counter() - started) / pairs:.1f} s/pair", flush=True)


def perceptual_loss(encoder: torch.nn.Module, plain, weight: float):
    """`tune._loss` plus `weight` x an LPIPS-like distance in the loaded e4e encoder's features: the
    output of each of its four backbone stages, unit-normalised along channels, squared difference
    averaged over positions and summed over stages (features of the image as the encoder sees it,
    resized to its input size)."""
    import torch.nn.functional as F

    encoder = encoder.eval().requires_grad_(False)
    size = encoder.config.input_size

    def features(x):
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x, taps = encoder.input_layer(x), []
        for i, unit in enumerate(encoder.body):
            x = unit(x)
            if i in encoder.stage_ends:
                taps.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-8))
        return taps

    def loss(rendered, target, levels):
        with torch.no_grad():
            wanted = features(target)
        mine = features(rendered)
        distance = sum((a - b).pow(2).sum(1).flatten(1).mean(1) for a, b in zip(mine, wanted))
        return plain(rendered, target, levels) + weight * distance

    return loss


def _spread(values: list[float]) -> dict:
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--tune", default="", help="steps for --tune (empty: bare --tune, the default)")
    parser.add_argument("--sweep", default="", metavar="JSON",
                        help='instead: settings measured in process, e.g. \'[{"steps": 40, "lr": 0.002}]\'')
    args = parser.parse_args(argv)
    if args.sweep:
        sweep(args.pairs, json.loads(args.sweep))
        return 0
    n = 2 * args.pairs
    faces = heldout_faces(n, 256)
    truth_all = as_model_sees(true_midpoints(n, 256))              # truth i: in-between of faces i, i+1
    inputs = as_model_sees(faces).view(args.pairs, 2, 3, SIZE, SIZE)
    truth = truth_all[0::2]
    tune_args = ["--tune"] + ([args.tune] if args.tune else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    runs = {"untuned": [], "tuned": []}
    seconds = {"untuned": [], "tuned": []}
    cpu = {"untuned": [], "tuned": []}
    with script_temp("bench_tune_") as work:
        env["INTERP_CACHE_DIR"] = str(work / "cache")
        for i, face in enumerate(faces):
            Image.fromarray(face).save(work / f"face{i}.png")
        for k in range(args.pairs):
            pair = [str(work / f"face{2 * k}.png"), str(work / f"face{2 * k + 1}.png")]
            order = ["untuned", "tuned"] if k % 2 == 0 else ["tuned", "untuned"]
            for name in order:
                out = work / f"{name}{k}"
                extra = tune_args if name == "tuned" else []
                wall, cpu_seconds = run_cli([*pair, "--weights", "demo", "--steps", str(args.steps), "--no-cache",
                                         "--quiet", *extra, "-o", f"{out}/"], env)
                seconds[name].append(wall)
                cpu[name].append(cpu_seconds)
                runs[name].append(read_frames(out))
    ratios = [t / u for t, u in zip(seconds["tuned"], seconds["untuned"])]
    cpu_ratios = [t / u for t, u in zip(cpu["tuned"], cpu["untuned"])]
    result = {"pairs": args.pairs, "steps": args.steps, "tune": " ".join(tune_args),
              **{name: {**metrics(frames, inputs, truth),
                        "seconds": [round(s, 2) for s in seconds[name]],
                        "cpu_seconds": [round(s, 2) for s in cpu[name]]} for name, frames in runs.items()},
              "time_ratio": _spread(ratios), "cpu_time_ratio": _spread(cpu_ratios),
              "loadavg_1min": os.getloadavg()[0]}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_tune"))
