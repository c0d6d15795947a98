"""The page's player, this checkout's against another commit's: the tab's peak memory and the scrub latency on
a big, long morph (240 frames at 1024 px of real photos, bench_page_big.py's "photos" set).

Both pages hold the same frames, each written by its own commit's PageWriter (`--against REV` loads that
commit's interp_cli/page.py beside this checkout's modules). Each visit is a fresh headless Chromium, so the GPU
process's peak is that page's alone; visits alternate A/B, --repeat times each. Per page, min / median / max of:
- renderer MB, gpu MB: the peak resident memory (Linux's VmHWM) of the tab's renderer and of the GPU process
  once every frame was shown (a sweep from the first frame to the last, one slider step at a time);
- step ms: from the slider's input event to the new frame ready to paint (an <img>: `img.decode()` resolved;
  a canvas: drawn, its data-drawn attribute naming the frame), over every step of every sweep; over 16.7 ms is a
  dropped frame on a 60 Hz screen;
- jump ms: the same for 40 jumps across the morph (frame i to i + n/2 and back: nothing cached nearby).

    .venv/bin/python benchmarks/bench_page_player.py --against 2c155b4      # ~3 min on 2 cores
    .venv/bin/python benchmarks/bench_page_player.py --against 2c155b4 --steps 60 --repeat 2

Timings drift 10-20 % on a shared VM: compare the rows of one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from interp_cli import page as this_page  # noqa: E402
from benchmarks.bench_page_big import PAGE_SWEEP, arguments, photo_frames  # noqa: E402
from benchmarks.spread import spread  # noqa: E402
from tests.browser import OFFLINE_ARGS, chromium_processes, peak_mb  # noqa: E402

def against(rev: str, folder: Path):
    """The PageWriter of commit `rev`'s interp_cli/page.py (its imports are this checkout's modules)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:interp_cli/page.py"], check=True,
                            capture_output=True, text=True).stdout
    path = folder / f"page_{rev}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"page_{rev}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PageWriter


def visit(playwright, executable: str, path: Path, steps: int) -> dict:
    """One fresh browser opening the page: the sweep's and the jumps' latencies, then the peaks."""
    marker = f"--interp-bench={path.stem}-{time.monotonic_ns()}"  # its processes, not another run's
    browser = playwright.chromium.launch(executable_path=executable, args=[*OFFLINE_ARGS, marker])
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(path.as_uri(), wait_until="load", timeout=120_000)
        sweep = page.evaluate(PAGE_SWEEP, list(range(1, steps)))
        jumps = page.evaluate(PAGE_SWEEP, [(k * 7 + (steps // 2) * (k % 2)) % steps for k in range(1, 41)])
        memory = {kind: peak_mb(chromium_processes(kind, marker)) for kind in ("renderer", "gpu-process")}
    finally:
        browser.close()
    return {"sweep": sweep, "jumps": jumps, **memory}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", required=True, help="the commit whose player to compare with (e.g. 2c155b4)")
    args, executable = arguments(__doc__, "bench_page_player.py", "browsers", parser)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="interp-bench-page-player-") as scratch:
        writers = {args.against: against(args.against, Path(scratch)), "this": this_page.PageWriter}
        pages = {}
        for label, writer_class in writers.items():
            pages[label] = Path(scratch) / f"{label}.html"
            with writer_class(pages[label], fps=30, quality=8) as writer:
                for frame in photo_frames(args.steps):
                    writer.write(frame)
        runs = {label: [] for label in pages}
        with sync_playwright() as playwright:
            for _ in range(args.repeat):  # alternated, so drift hits both alike
                for label, path in pages.items():
                    runs[label].append(visit(playwright, executable, path, args.steps))
        print(f"{args.steps} frames at 1024 px (photos), {pages['this'].stat().st_size / 1e6:.1f} MB page; "
              f"min / median / max over {args.repeat} fresh headless Chromiums each")
        print(f"{'player':<10} {'renderer MB':>16} {'gpu MB':>16} {'step ms':>16} {'>16.7':>6} {'jump ms':>16}")
        for label, seen in runs.items():
            steps = [s for run in seen for s in run["sweep"]]
            jumps = [s for run in seen for s in run["jumps"]]
            slow = sum(s > 1000 / 60 for s in steps) / len(steps)
            print(f"{label:<10} {spread([r['renderer'] for r in seen], '{:.0f}'):>16} "
                  f"{spread([r['gpu-process'] for r in seen], '{:.0f}'):>16} {spread(steps, '{:.1f}'):>16} "
                  f"{slow:6.0%} {spread(jumps, '{:.1f}'):>16}")
        medians = {label: statistics.median(r["renderer"] for r in seen) for label, seen in runs.items()}
        print(f"renderer peak, this / {args.against} (medians): {medians['this'] / medians[args.against]:.2f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_page_player"))
