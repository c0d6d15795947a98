"""How long `interp batch` takes to refuse a read-only --outdir, with the code in this checkout and with another.

A read-only --outdir (an existing folder, bind-mounted read-only in a mount namespace of its own: needs root or
unprivileged user namespaces, and util-linux's `unshare`) used to be found by the first row's write check, after
torch's import and the model's load. This script writes a full-size random e4e checkpoint (1.2 GB, as
benchmarks/bench.py does), then runs a two-row batch into such an --outdir with each checkout on PYTHONPATH in
turn, `--repeats` times interleaved, and prints each one's wall time (min / median / max) and exit code.

    .venv/bin/python benchmarks/bench_readonly_outdir.py --baseline /tmp/old-checkout --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from benchmarks.bench import random_encoder, random_generator  # noqa: E402
from benchmarks.spread import spread  # noqa: E402
from interp_cli.files import fsync_path  # noqa: E402
from interp_cli.models.checkpoint import save_e4e_checkpoint  # noqa: E402
from tests.recipe import GOLDEN_DIR  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="another checkout of interp, timed the same way")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="interp-ro-") as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "e4e_random_1024.pt"
        generator = random_generator(1024, torch.device("cpu"))
        save_e4e_checkpoint(ckpt, generator, random_encoder(torch.device("cpu")),
                            generator.mean_latent(512).expand(generator.n_latent, -1).clone())
        del generator
        fsync_path(ckpt)  # on disk and in the page cache before the clock starts, as for a user's later runs
        a, b = GOLDEN_DIR / "golden_input_A.png", GOLDEN_DIR / "golden_input_B.png"
        (tmp / "pairs.csv").write_text(f"{a},{b},m0.mp4\n{a},{b},m1.mp4\n")
        (tmp / "out").mkdir()
        checkouts = {"this": ROOT, "baseline": Path(args.baseline).resolve()}
        times: dict[str, list[float]] = {name: [] for name in checkouts}
        codes: dict[str, set[int]] = {name: set() for name in checkouts}
        for _ in range(args.repeats):
            for name, checkout in checkouts.items():
                env = dict(os.environ, PYTHONPATH=str(checkout), HF_HUB_OFFLINE="1")
                started = time.perf_counter()
                done = run_child(
                    ["unshare", "-m", "--fork", "sh", "-c", 'mount --bind out out && mount -o remount,bind,ro out '
                     '&& exec "$@"', "sh", sys.executable, "-m", "interp_cli", "batch", "pairs.csv", "--outdir", "out",
                     "--weights", str(ckpt), "--no-align", "--steps", "8", "--quiet"],
                    cwd=tmp, env=env, capture_output=True, text=True)
                times[name].append(time.perf_counter() - started)
                codes[name].add(done.returncode)
        for name, seconds in times.items():
            print(f"{name:9s} exit {sorted(codes[name])}: {spread(seconds, '{:6.2f}')} s (min / median / max of "
                  f"{len(seconds)})")
        ratio = statistics.median(times["baseline"]) / statistics.median(times["this"])
        print(f"baseline / this (medians): {ratio:.1f}x")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_readonly_outdir"))
