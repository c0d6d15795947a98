"""A 1024 px `--pingpong` morph drawn once and replayed (interp_cli/replay.py), against a checkout that draws its
way back again: render time and the process's peak RSS, each run in a fresh `interp` process.

    python benchmarks/bench_replay.py --base /tmp/old [--steps 8 24] [--repeats 3] [--device cpu] [--hold N --size PX]

A full-size random e4e checkpoint is written to a temp dir (as bench.py's end-to-end run does); both checkouts
morph the two golden inputs with `--no-align --no-cache --pingpong -o out.mp4 --json`, one after the other in
each repeat (so the VM's drift hits both). Printed per checkout and --steps: the CLI's own "render" timing
(drawing, writing and, here, replaying), the wall time and the peak RSS, as min / median / max; then the
render-time ratio per repeat. `--base`: the other checkout (its interp_cli is run with PYTHONPATH=DIR).
`--hold N --size PX` add those options to every morph (a hold's copies of frames resized to PX: finished once
since the eighteenth audit, again for each copy before).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import _RSS_WRAPPER, GOLDEN, random_encoder, random_generator  # noqa: E402
from spread import spread  # noqa: E402


def write_checkpoint(path: Path) -> None:
    from interp_cli.files import fsync_path
    from interp_cli.models.checkpoint import save_e4e_checkpoint

    generator = random_generator(1024, torch.device("cpu"))
    latent_avg = generator.mean_latent(512).expand(generator.n_latent, -1).clone()
    save_e4e_checkpoint(path, generator, random_encoder(torch.device("cpu")), latent_avg)
    fsync_path(path)  # on disk before any clock starts (see bench.run_e2e)


def run_once(code: Path, ckpt: Path, tmp: Path, steps: int, device: str, more: list[str]) -> dict:
    out = tmp / "out.mp4"
    cmd = [sys.executable, "-m", "interp_cli", str(GOLDEN / "golden_input_A.png"), str(GOLDEN / "golden_input_B.png"),
           "--weights", str(ckpt), "--no-align", "--no-cache", "--steps", str(steps), "--pingpong", "-o", str(out),
           "--device", device, "--quiet", "--json", *more]
    env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(tmp / "cache"), PYTHONPATH=str(code))
    started = time.perf_counter()
    # The wrapper waits for the CLI and prints its summary line, exit code and ru_maxrss (KiB on Linux).
    wrapper = run_child([sys.executable, "-c", _RSS_WRAPPER, *cmd], cwd=str(code), stdout=subprocess.PIPE,
                        env=env, check=False)
    wall = time.perf_counter() - started
    lines = wrapper.stdout.decode(errors="replace").strip().splitlines()
    returncode, maxrss = (int(v) for v in lines[-1].split())
    if returncode != 0:
        raise SystemExit(f"{code}: the morph failed (exit {returncode})")
    summary = json.loads(lines[-2])
    return {"render": summary["timings"]["render"], "wall": wall, "rss_mb": maxrss * 1024 / 1e6,
            "frames": summary["frames"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the checkout to compare with")
    parser.add_argument("--steps", type=int, nargs="+", default=[8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hold", type=int, default=0)
    parser.add_argument("--size", type=int, default=None)
    args = parser.parse_args()
    more = [*(["--hold", str(args.hold)] if args.hold else []), *(["--size", str(args.size)] if args.size else [])]
    codes = {"this checkout": ROOT, "--base": args.base.resolve()}
    with tempfile.TemporaryDirectory(prefix="interp-bench-replay-") as name:
        tmp = Path(name)
        ckpt = tmp / "e4e_random_1024.pt"
        write_checkpoint(ckpt)
        for steps in args.steps:
            results: dict[str, list[dict]] = {label: [] for label in codes}
            for _ in range(args.repeats):
                for label, code in codes.items():
                    results[label].append(run_once(code, ckpt, tmp, steps, args.device, more))
            print(f"--steps {steps} --pingpong {' '.join(more)} at 1024 px ({results[next(iter(codes))][0]['frames']} "
                  "frames), "
                  f"{args.repeats} runs each, min / median / max:")
            for label, runs in results.items():
                print(f"  {label:<26} render {spread([r['render'] for r in runs], '{:.1f}')} s, wall "
                      f"{spread([r['wall'] for r in runs], '{:.1f}')} s, peak RSS "
                      f"{spread([r['rss_mb'] for r in runs], '{:.0f}')} MB")
            mine, base = results.values()
            ratios = [m["render"] / b["render"] for m, b in zip(mine, base)]
            print(f"  render time, this checkout / --base: {spread(ratios, '{:.2f}')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_replay"))
