"""What two or four batch workers started together on one cache pay for encoding the same photo each.

    .venv/bin/python benchmarks/bench_encode_together.py --workers 2 4 --weights demo --steps 10
    .venv/bin/python benchmarks/bench_encode_together.py --workers 2 4 --weights 1024 --steps 2

The latent cache takes no claim: workers that start together and share a photo (one face morphed into many others,
a manifest sharded over workers) each encode it before any has put its code. This script writes eight other faces
(examples/demo_b.png flipped, turned and tinted, so each has its own code), a manifest of eight rows "demo_a.png
into face i", and runs `interp batch --shard k/W --json --no-align` for k = 1..W at once on a fresh cache, in
fresh processes. Per W it prints how many workers encoded the shared face (a worker's first row with two encoder
calls encoded it; one call: its code came from the cache), the encoder seconds summed over all rows, the rows'
seconds summed, the slowest worker's wall time, and so the share of the work that a claim on the shared face's
encoding could save at most: (encodes of it - 1) x its encoding time, over the rows' seconds summed.
`--weights 1024` writes a full-size random e4e checkpoint (bench.py's networks, 1.2 GB) to the scratch folder.
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

ROOT = Path(__file__).resolve().parent.parent


def _faces(folder: Path) -> tuple[Path, list[Path]]:
    from PIL import Image, ImageOps

    shared = ROOT / "examples" / "demo_a.png"
    base = Image.open(ROOT / "examples" / "demo_b.png").convert("RGB")
    others = []
    for i in range(8):
        face = ImageOps.mirror(base) if i % 2 else base
        face = face.rotate(3 * (i // 2), fillcolor=(128, 128, 128))
        face = Image.eval(face, lambda v, i=i: min(255, v + 6 * i))
        path = folder / f"face{i}.png"
        face.save(path)
        others.append(path)
    return shared, others


def _checkpoint(folder: Path) -> Path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench
    import torch
    from interp_cli.files import fsync_path
    from interp_cli.models.checkpoint import save_e4e_checkpoint

    path = folder / "e4e_random_1024.pt"
    generator = bench.random_generator(1024, torch.device("cpu"))
    latent_avg = generator.mean_latent(512).expand(generator.n_latent, -1).clone()
    save_e4e_checkpoint(path, generator, bench.random_encoder(torch.device("cpu")), latent_avg)
    fsync_path(path)
    return path


def _round(folder: Path, manifest: Path, weights: str, steps: int, workers: int) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=folder))
    out = Path(tempfile.mkdtemp(prefix="out-", dir=folder))
    env = dict(os.environ, INTERP_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    started = time.monotonic()
    runs = [subprocess.Popen([sys.executable, "-m", "interp_cli", "batch", str(manifest), "--outdir", str(out),
                              "--shard", f"{k}/{workers}", "--weights", weights, "--steps", str(steps), "--json",
                              "--no-align"], env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True) for k in range(1, workers + 1)]
    walls, rows = [], []
    for run in runs:
        stdout, _ = run.communicate()
        walls.append(time.monotonic() - started)
        assert run.returncode == 0, f"a worker failed ({run.returncode})"
        rows.append([json.loads(line) for line in stdout.splitlines() if '"summary"' not in line])
    firsts = [worker[0] for worker in rows if worker]
    shared_encodes = sum(first["encoder_calls"] == 2 for first in firsts)
    # A first row with two encoder calls: the shared face's encoding is about half of that row's encoding time.
    per_encode = [first["timings"]["encode"] / 2 for first in firsts if first["encoder_calls"] == 2]
    encode = sum(row["timings"]["encode"] for worker in rows for row in worker)
    work = sum(row["timings"]["row"] for worker in rows for row in worker)
    saving = (shared_encodes - 1) * (sum(per_encode) / len(per_encode)) if per_encode else 0.0
    return {"workers": workers, "first_rows_encoder_calls": [first["encoder_calls"] for first in firsts],
            "shared_face_encoded": shared_encodes, "encode_s": round(encode, 2),
            "rows_s": round(work, 2), "slowest_wall_s": round(max(walls), 1), "claim_saves_at_most_s": round(saving, 2),
            "share": round(saving / work, 4) if work else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--weights", default="demo", help="demo, or 1024: a full-size random e4e checkpoint")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="interp-encode-together-") as tmp:
        folder = Path(tmp)
        shared, others = _faces(folder)
        manifest = folder / "pairs.csv"
        manifest.write_text("".join(f"{shared},{face},out{i}.gif\n" for i, face in enumerate(others)))
        weights = str(_checkpoint(folder)) if args.weights == "1024" else args.weights
        for _ in range(args.repeat):
            for workers in args.workers:
                print(json.dumps(_round(folder, manifest, weights, args.steps, workers)), flush=True)


if __name__ == "__main__":
    main()
