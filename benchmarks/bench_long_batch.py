"""A long `interp batch`: does memory or time per row grow with the rows done, bad rows included?

    nice -n 5 .venv/bin/python benchmarks/bench_long_batch.py --rows 320 --steps 4
    nice -n 5 .venv/bin/python benchmarks/bench_long_batch.py --rows 320 --inprocess     # what holds memory
    nice -n 5 .venv/bin/python benchmarks/bench_long_batch.py --rows 40 --full --size 128 --steps 3

A manifest of ROWS rows is written to a temp dir: the demo photos under distinct names, each copy one pixel
changed so that the latent cache (keyed by the image's content) sees a new input every row; some rows take a
.npy code written by `interp encode`; outputs cycle through .gif, .mp4, a frames/ folder and .html, with
`--sheets`. Every 10th row is bad, in turn: a missing photo, a text file named .png, a truncated PNG, a .npy
of the wrong shape, an output that cannot be written (its folder is a file), and a photo with no face (a
plain grey square: the demo model does not align, so this row is made, with a "poor likeness" warning).

Default mode: `interp batch --json` runs as a child; a thread samples its VmRSS from /proc every 20 ms, and
each row's JSON line is stamped as it arrives, so each row gets its wall time and the RSS when it finished.
Printed: time per row (min / median / max) over the first and the last 50 good rows, RSS at rows 50, 150,
250 and the end, the slope of RSS against row index over the second half (KB/row, a least-squares fit), and
peak RSS (VmHWM). `--full` uses a random full-size (1024 px) checkpoint instead of the demo model,
rendered at `--size`, which exercises the big generator's allocations.

`--inprocess` runs `interp_cli.pipeline.batch` in this process over the same rows, with tracemalloc on,
and diffs snapshots taken after row 50 and after the last row: the lines that grew most (interp's own files
first), and the live objects by type that grew (gc.get_objects), per row, and the bytes per row the summary's
"results" hold at the end; `--trimmed` runs it with `keep_results=False`, as the CLI does.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import end_group, run_script, script_temp, start_child  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from benchmarks.spread import spread  # noqa: E402

BAD_KINDS = ("missing", "not_image", "truncated", "bad_npy", "unwritable", "no_face")
OUTPUTS = ("{}.gif", "{}.mp4", "{}/", "{}.html")


def make_rows(tmp: Path, n: int, weights: str, align: bool | None = None) -> Path:
    """Write the photos, codes and manifest for `n` rows under `tmp`; return the manifest."""
    import numpy as np
    from PIL import Image

    photos = tmp / "photos"
    photos.mkdir()
    sources = [np.array(Image.open(ROOT / "examples" / name).convert("RGB")) for name in ("demo_a.png", "demo_b.png")]
    codes = []
    for i in range(2):  # a few codes from `interp encode`, reused by every 5th row
        path = tmp / f"code{i}.npy"
        subprocess.run([sys.executable, "-m", "interp_cli", "encode", str(ROOT / "examples" / f"demo_{'ab'[i]}.png"),
                        "-o", str(path), "--weights", weights, "--quiet", *(["--no-align"] if align is False else [])],
                       check=True, env=_env())
        codes.append(path)
    (photos / "not_image.png").write_text("this is a text file, not a PNG\n")
    whole = (ROOT / "examples" / "demo_a.png").read_bytes()
    (photos / "truncated.png").write_bytes(whole[:len(whole) // 2])
    np.save(photos / "bad.npy", np.zeros((3, 7), np.float32))
    Image.new("RGB", (64, 64), (128, 128, 128)).save(photos / "grey.png")
    lines = []
    for row in range(1, n + 1):
        pair = []
        for side in range(2):  # one changed pixel: a new image (and cache key) per row and side
            image = sources[side].copy()
            image[row % 64, (row // 64) % 64, side] ^= 1 + (row // 4096)
            path = photos / f"p{row:04d}_{side}.png"
            Image.fromarray(image).save(path)
            pair.append(str(path))
        if row % 5 == 0:
            pair[1] = str(codes[row // 5 % 2])
        name = OUTPUTS[row % len(OUTPUTS)].format(f"m{row:04d}")
        if row % 10 == 0:
            kind = BAD_KINDS[row // 10 % len(BAD_KINDS)]
            if kind == "missing":
                pair[0] = str(photos / f"gone{row}.png")
            elif kind in ("not_image", "truncated"):
                pair[0] = str(photos / f"{kind}.png")
            elif kind == "bad_npy":
                pair[1] = str(photos / "bad.npy")
            elif kind == "unwritable":
                name = f"blocker/m{row:04d}.gif"
            elif kind == "no_face":
                pair[0] = str(photos / "grey.png")
        lines.append(",".join(pair + [name]))
    manifest = tmp / "pairs.csv"
    manifest.write_text("\n".join(lines) + "\n")
    (tmp / "out").mkdir()
    (tmp / "out" / "blocker").write_text("a file where a row wants a folder\n")
    return manifest


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")


def _rss_kb(pid: int, field: str = "VmRSS") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def slope_kb_per_row(rss: list[tuple[int, int]]) -> float:
    """Least-squares slope of RSS (KB) against row index, over the second half of the rows."""
    half = rss[len(rss) // 2:]
    xs, ys = [r for r, _ in half], [kb for _, kb in half]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def run_batch(manifest: Path, outdir: Path, options: list[str]) -> None:
    command = [sys.executable, "-m", "interp_cli", "batch", str(manifest), "--outdir", str(outdir), "--json",
               "--sheets", *options]
    print("running:", " ".join(command), flush=True)
    child = start_child(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env())
    try:
        _follow(child)
    except BaseException:  # a stop: the batch (and its ffmpeg) ended before the temp folder goes
        end_group(child)
        raise


def _follow(child: subprocess.Popen) -> None:
    """Read the batch's JSON lines as they come, its RSS sampled meanwhile, and report."""
    latest = {"rss": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            kb = _rss_kb(child.pid)
            if kb:
                latest["rss"] = kb
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rows, last, hwm = [], time.perf_counter(), None
    for line in child.stdout:
        now = time.perf_counter()
        record = json.loads(line)
        if "row" in record:
            kb = _rss_kb(child.pid) or latest["rss"]
            hwm = _rss_kb(child.pid, "VmHWM") or hwm
            rows.append({"row": record["row"], "ok": record["ok"], "wall": now - last, "rss": kb,
                         "error": record.get("error")})
        last = now
    child.wait()
    done.set()
    report(rows, hwm, child.returncode)


def report(rows: list[dict], hwm: int | None, code: int | None) -> None:
    good = [r for r in rows if r["ok"]]
    bad = [r for r in rows if not r["ok"]]
    print(f"exit {code}; {len(rows)} rows: {len(good)} made, {len(bad)} failed")
    for r in bad[:len(BAD_KINDS)]:
        print(f"  row {r['row']}: {r['error'][:150]}")
    if len(good) >= 20:
        span = min(50, len(good) // 2)
        first = [r["wall"] for r in good[1:span + 1]]  # the first row also loads the model
        later = [r["wall"] for r in good[-span:]]
        print(f"s per good row, rows 2-{span + 1} vs the last {span} (min / median / max): {spread(first)}  vs  "
              f"{spread(later)}  (medians' ratio {statistics.median(later) / statistics.median(first):.3f})")
    if bad:
        print(f"s per failed row (min / median / max): {spread([r['wall'] for r in bad])}")
    rss = [(r["row"], r["rss"]) for r in rows]
    marks = [i for i in (50, 150, 250) if i <= len(rss)] + [len(rss)]
    print("RSS MB after row " + ", ".join(f"{rss[i - 1][0]}: {rss[i - 1][1] / 1024:.1f}" for i in marks)
          + (f"; peak (VmHWM) {hwm / 1024:.1f} MB" if hwm else ""))
    if len(rss) >= 10:
        print(f"RSS slope over the second half: {slope_kb_per_row(rss):+.2f} KB/row")


def run_in_process(manifest: Path, outdir: Path, options: dict) -> None:
    import tracemalloc

    from interp_cli.pipeline import batch

    snapshots, counts = {}, {}
    n = len(manifest.read_text().splitlines())
    mark = min(50, n // 2)

    def on_row(result: dict) -> None:  # counts the rows only: a list of them would hold every result alive
        on_row.done += 1
        done = on_row.done
        if done in (mark, n):
            gc.collect()
            snapshots[done] = tracemalloc.take_snapshot()
            counts[done] = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    on_row.done = 0
    tracemalloc.start(8)
    started = time.perf_counter()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = batch(manifest, outdir, sheets=True, on_row=on_row, **options)
    # What stays held per row once the run is over: the summary's "results" (whole, or each row's outcome only).
    print(f"results held at the end: {_deep_size(summary['results']) / len(summary['results']):.0f} B/row")
    print(f"{summary['rows']} rows in {time.perf_counter() - started:.0f} s: {summary['made']} made, "
          f"{summary['failed']} failed")
    rows = n - mark
    diff = snapshots[n].compare_to(snapshots[mark], "traceback")
    grown = sum(d.size_diff for d in diff)
    print(f"tracemalloc: {grown / 1024:+.1f} KB between row {mark} and row {n} ({grown / rows:+.0f} B/row)")
    ours = [d for d in diff if any("interp_cli" in f.filename for f in d.traceback)]
    print(f"  of which allocated under interp_cli: {sum(d.size_diff for d in ours) / 1024:+.1f} KB")
    for d in sorted(diff, key=lambda d: -d.size_diff)[:12]:
        if d.size_diff <= 0:
            break
        frames = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in list(d.traceback)[::-1][:4])
        print(f"  {d.size_diff / 1024:+8.1f} KB {d.count_diff:+6d} blocks  {frames}")
    growth = counts[n] - counts[mark]
    print("live objects grown, by type (count, per row):",
          ", ".join(f"{name} {k:+d} ({k / rows:+.2f})" for name, k in growth.most_common(12)) or "none")


def _deep_size(value) -> int:
    """Bytes of `value` and of every dict, list and string in it (sys.getsizeof, shared objects counted once)."""
    seen, stack, total = set(), [value], 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple)):
            stack += list(item)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=320)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--full", action="store_true", help="a random full-size checkpoint instead of --weights demo")
    parser.add_argument("--size", type=int, default=128, help="--size for --full")
    parser.add_argument("--inprocess", action="store_true", help="tracemalloc and gc counts in this process")
    parser.add_argument("--trimmed", action="store_true",
                        help="--inprocess with keep_results=False, as the CLI runs it: each row's outcome only")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with script_temp("interp-long-") as tmp:
        os.environ["INTERP_CACHE_DIR"] = str(tmp / "cache")  # an empty cache: every row encodes
        weights, options = "demo", {"steps": args.steps}
        if args.full:
            import torch

            from benchmarks.bench import random_encoder, random_generator
            from interp_cli.files import fsync_path
            from interp_cli.models.checkpoint import save_e4e_checkpoint

            weights = str(tmp / "e4e_random_1024.pt")
            generator = random_generator(1024, torch.device("cpu"))
            save_e4e_checkpoint(weights, generator, random_encoder(torch.device("cpu")),
                                generator.mean_latent(512).expand(generator.n_latent, -1).clone())
            del generator
            fsync_path(weights)
            options.update(size=args.size, align=False)  # the demo photos are cartoons: no face for dlib
        manifest = make_rows(tmp, args.rows, weights, options.get("align"))
        if args.inprocess:
            run_in_process(manifest, tmp / "out", {"weights": weights, **options, "keep_results": not args.trimmed})
        else:
            flags = [f"--{key}={value}" if not isinstance(value, bool) else f"--{'' if value else 'no-'}{key}"
                     for key, value in options.items()]
            run_batch(manifest, tmp / "out", ["--weights", weights, *flags])


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_long_batch"))
