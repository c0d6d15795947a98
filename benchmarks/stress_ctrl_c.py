"""Ctrl-C on `examples/parallel.sh` again and again: how often is a temp file left behind?

    PYTHONPATH=. .venv/bin/python benchmarks/stress_ctrl_c.py [--runs 25] [--busy 2]

Each run starts the GNU parallel recipe on 4 rows of the test photos with 3 workers (a tiny random
model, `--steps 3000 --size 256`, so rows last many seconds), waits until 3 hidden temps exist (the
workers have just opened their MP4s, the moment ffmpeg starts), sends SIGINT to the script's process
group as a terminal's Ctrl-C does, and lists what is left in the output folder once the script has
exited. `--busy N` runs N busy loops beside it, as on a loaded CI machine. Prints one line per run
that left something (name and size) and a closing JSON line with the counts. Needs GNU parallel.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interp_cli.stops import run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)
from tests.conftest import build_tiny_model  # noqa: E402
from tests.recipe import GOLDEN_DIR  # noqa: E402


def one_run(work: Path, checkpoint: Path) -> tuple[int, list[tuple[str, int]]]:
    """The script's exit code and what it left in its output folder."""
    a, b = GOLDEN_DIR / "golden_input_A.png", GOLDEN_DIR / "golden_input_B.png"
    (work / "pairs.csv").write_text("".join(f"{a},{b},m{i}.mp4\n" for i in range(4)))
    env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(work / "cache"), PYTHONPATH=str(ROOT),
               INTERP=f"{sys.executable} -m interp_cli", WEIGHTS=str(checkpoint), STEPS="3000",
               EXTRA="--no-align --size 256")
    script = subprocess.Popen([str(ROOT / "examples" / "parallel.sh"), "pairs.csv", "out", "3"], cwd=work, env=env,
                              start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = work / "out"
    try:
        deadline = time.monotonic() + 120
        while not (out.is_dir() and len(list(out.rglob(".*"))) >= 3):
            if script.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the recipe did not start its rows (exit {script.poll()})")
            time.sleep(0.05)
        os.killpg(script.pid, signal.SIGINT)
        script.communicate(timeout=120)  # read as the test does (parallel relays the workers' lines)
    except BaseException:
        # The recipe runs in a session of its own, which no stop of this script reaches: ended here, before the
        # temp folder it writes in is removed under it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(script.pid, signal.SIGKILL)
        script.wait()
        raise
    # A stopped batch removes the --outdir it made when nothing was made in it: gone, it holds nothing.
    return script.returncode, [(p.name, p.stat().st_size) for p in sorted(out.iterdir())] if out.is_dir() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--busy", type=int, default=2, help="busy loops beside the runs")
    args = parser.parse_args()
    busy = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(args.busy)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            from interp_cli.models.checkpoint import save_e4e_checkpoint

            checkpoint = Path(tmp) / "tiny.pt"
            generator, encoder, latent_avg = build_tiny_model()
            save_e4e_checkpoint(checkpoint, generator, encoder, latent_avg, meta={"name": "tiny"})
            left, codes = 0, {}
            for run in range(args.runs):
                work = Path(tempfile.mkdtemp(dir=tmp))
                code, files = one_run(work, checkpoint)
                codes[code] = codes.get(code, 0) + 1
                if files:
                    left += 1
                    print(f"run {run}: left {files}", flush=True)
    finally:
        for loop in busy:
            loop.kill()
    print(json.dumps({"runs": args.runs, "busy_loops": args.busy, "runs_leaving_files": left,
                      "exit_codes": codes}))


if __name__ == "__main__":
    sys.exit(run_script(main, "stress_ctrl_c"))
