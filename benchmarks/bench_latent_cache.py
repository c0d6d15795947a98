"""What the latent cache (`latents/` in interp's cache dir) keeps, and what a bound on it would cost.

    .venv/bin/python benchmarks/bench_latent_cache.py                  # 40 demo rows, then 200,000 entries listed
    .venv/bin/python benchmarks/bench_latent_cache.py --rows 10 --entries 20000

1. A real `interp batch` of `--rows` rows, each of two photos no other row has (the shipped demo photos with a
   different pixel changed), `--weights demo --no-align`, into a fresh cache: the entries it leaves, per row, and
   their bytes (st_size, and st_blocks as the disk counts them).
2. An ffhq entry's size: a [18, 512] float32 code written as the cache writes one (`LatentCache.put`).
3. Those sizes times the entries a 100,000-row batch of distinct photos leaves (two per row).
4. What an eviction pass over a full `latents/` costs: `cache_folders.evict_least_recent` (the tuned cache's) over
   `--entries` entries (empty files: a pass stats each, whatever its size) with room for all, timed `--repeat`
   times beside one row's time of step 1 (min / median / max): a bound checked on every write costs this much.
5. A process's first write into a full cache with nothing to evict: a fresh `LatentCache`'s `put` of an ffhq code
   into `--full-entries` ffhq-sized entries (sparse files: a pass stats each, whatever its blocks) under the
   default 2 GB bound, `--repeat` times each way, alternated: with the folder's record of its size (this code),
   and with the record removed first (a pass, as every process's first write made before the record). The temp
   sweep's once-per-process listing is redone in each (as in a new process).

       .venv/bin/python benchmarks/bench_latent_cache.py --rows 2 --entries 10 --full-entries 50000 --repeat 9
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_child, run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from benchmarks.spread import spread, versus  # noqa: E402


def on_disk(folder: Path) -> tuple[int, int, int]:
    """(entries, bytes by st_size, bytes by st_blocks) of the .npy files in `folder`."""
    infos = [path.stat() for path in folder.glob("*.npy")]
    return len(infos), sum(i.st_size for i in infos), sum(i.st_blocks * 512 for i in infos)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--full-entries", type=int, default=50_000)
    args = parser.parse_args()
    from PIL import Image

    from interp_cli import files
    from interp_cli.cache import LatentCache
    from interp_cli.cache_folders import evict_least_recent

    with tempfile.TemporaryDirectory(prefix="bench_latent_cache.") as scratch:
        scratch = Path(scratch)
        photos = [np.asarray(Image.open(ROOT / "examples" / f"demo_{n}.png").convert("RGB")) for n in "ab"]
        rows = []
        for row in range(args.rows):
            names = []
            for side, photo in enumerate(photos):
                changed = photo.copy()
                changed.flat[row] ^= 1  # one pixel's lowest bit: another photo, to the cache
                name = f"p{row}_{side}.png"
                Image.fromarray(changed).save(scratch / name)
                names.append(name)
            rows.append(",".join([*names, f"m{row}.gif"]))
        (scratch / "pairs.csv").write_text("\n".join(rows) + "\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "INTERP_CACHE_DIR": str(scratch / "c")}
        started = time.perf_counter()
        run_child([sys.executable, "-m", "interp_cli", "batch", "pairs.csv", "--outdir", "out", "--weights",
                   "demo", "--no-align", "--steps", "2", "--size", "64", "--quiet"], cwd=scratch, env=env,
                  check=True)
        per_row = (time.perf_counter() - started) / args.rows
        count, size, blocks = on_disk(scratch / "c" / "latents")
        print(f"demo batch: {args.rows} rows left {count} entries ({count / args.rows:g} a row), "
              f"{size / count:,.0f} bytes each ({blocks / count:,.0f} on disk); {per_row:.2f} s a row")

        ffhq = LatentCache(scratch / "ffhq")
        ffhq.put("k", np.zeros((18, 512), np.float32))
        _, ffhq_size, ffhq_blocks = on_disk(scratch / "ffhq")
        print(f"ffhq entry: {ffhq_size:,} bytes ({ffhq_blocks:,} on disk)")
        for what, one in (("demo", blocks / count), ("ffhq", ffhq_blocks)):
            print(f"100,000 rows of distinct photos, {what}: {200_000 * one / 1e9:.2f} GB on disk")

        full = scratch / "full"
        full.mkdir()
        for index in range(args.entries):
            (full / f"{index:064x}.npy").touch()
        passes = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            evict_least_recent(list(full.glob("*.npy")), room=1 << 60)
            passes.append(time.perf_counter() - started)
        print(f"one eviction pass over {args.entries:,} entries: {spread(passes)} s; "
              f"{spread([p / per_row for p in passes], '{:.1f}')} x a demo row")

        first_write_into_a_full_cache(scratch / "full-ffhq", args.full_entries, args.repeat, files, LatentCache)


def first_write_into_a_full_cache(folder: Path, entries: int, repeat: int, files, LatentCache) -> None:
    from interp_cli.cache_folders import USAGE_RECORD

    code = np.zeros((18, 512), np.float32)
    LatentCache(folder).put("seed", code)
    size = (folder / "seed.npy").stat().st_size
    for index in range(entries - 1):
        with open(folder / f"{index:064x}.npy", "wb") as fh:
            fh.truncate(size)  # sparse: its st_size is an ffhq entry's, with no blocks to write
    LatentCache(folder).put("record", code)  # a pass: the record now holds the folder's size
    times: dict[str, list[float]] = {"this": [], "baseline": []}
    for trial in range(repeat):
        for label in ("this", "baseline") if trial % 2 else ("baseline", "this"):
            if label == "baseline":
                (folder / USAGE_RECORD).unlink(missing_ok=True)
            files._cleaned.clear()  # a new process sweeps the folder's temps once
            cache = LatentCache(folder)
            started = time.perf_counter()
            cache.put(f"new{trial}{label}", code)
            times[label].append(time.perf_counter() - started)
            (folder / f"new{trial}{label}.npy").unlink()
    print(f"first write into a cache of {entries:,} ffhq entries ({entries * size / 1e9:.2f} GB, under the 2 GB "
          f"bound), {repeat} times each:")
    print(versus(times, "{:.1f}", scale=1e3, unit="ms"))


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_latent_cache"))
