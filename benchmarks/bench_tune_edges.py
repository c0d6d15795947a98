"""`--tune` with the morph's other options, on the demo model: are the ends closer and the middle unbroken?

    PYTHONPATH=. .venv/bin/python benchmarks/bench_tune_edges.py [--tune 50] [--steps 9] [--cases loop3,layers]
    PYTHONPATH=. .venv/bin/python benchmarks/bench_tune_edges.py --table 3

Each case (the inputs and options below) is morphed twice in one process through `pipeline.morph`, untuned
and with `--tune N` (`cache=False`, so every run tunes and encodes), to a frames folder at `--steps`
frames a transition. Printed, one JSON line a case:

- `psnr` / `untuned_psnr`: the likeness report's numbers for each photo input (`--json`'s), tuned run;
  `plain_psnr`: the untuned run's report, which should equal `untuned_psnr`;
- `end_check`: the report's PSNR recomputed here from the written first frame (and the last, for an
  open chain whose last input is a photo) against the input as the encoder saw it: is the report
  the frames' own (None with --paste or --layers, whose frames are not the codes' draw);
- `spike_tuned` / `spike_plain`: the largest frame-to-frame difference over the median one (mean
  absolute difference of consecutive frames, 0-255): a frame that jumps shows as a ratio far above the
  untuned run's; `step_ratio`: the largest tuned step over the untuned step at the same place;
- `segments`: per transition of the morph, the lowest PSNR (dB) of a tuned in-between frame against the
  untuned one, i.e. how far tuning moved the morph's middle there (higher = closer to what the model drew);
- `seconds`: wall time of the untuned and the tuned morph.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from interp_cli import blend, pipeline  # noqa: E402
from interp_cli.images import load_image  # noqa: E402
from interp_cli.likeness import psnr  # noqa: E402
from interp_cli.models.e4e import preprocess  # noqa: E402
from interp_cli.render import to_uint8  # noqa: E402
from interp_cli.session import EncodeSettings, Session  # noqa: E402

EXAMPLES = ROOT / "examples"


def cases(work: Path, session: Session) -> dict:
    """name -> (inputs, morph keywords). c.png is a held-out demo face; b.npy is demo_b's code."""
    from weights.eval_demo import heldout_faces

    a, b = EXAMPLES / "demo_a.png", EXAMPLES / "demo_b.png"
    c = work / "c.png"
    Image.fromarray(heldout_faces(1, 64)[0]).save(c)
    b_code = work / "b.npy"
    np.save(b_code, session.encode_photo(b, EncodeSettings(cache=False))[0])
    return {
        "plain": ([a, b], {}),
        "loop3": ([a, b, c], {"loop": True}),
        "loop2": ([a, b], {"loop": True}),
        "pingpong": ([a, b], {"pingpong": True}),
        "hold": ([a, b], {"hold": 3}),
        "layers": ([a, b], {"layers": "coarse"}),
        "three": ([a, b, c], {}),
        "npy": ([a, b_code, c], {}),
        "aba": ([a, b, a], {}),
        "paste": ([EXAMPLES / "obama.jpg", EXAMPLES / "biden.jpg"], {"paste": True}),
        "slerp_loop3": ([a, b, c], {"loop": True, "interp": "spline"}),
    }


def read(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in sorted(folder.glob("frame_*.png"))])


def as_encoder_saw(path: Path, size: int) -> np.ndarray:
    return to_uint8(preprocess(load_image(path), size))[0]


def steps_of(frames: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(frames.astype(np.float64), axis=0)).mean(axis=(1, 2, 3))


def measure(session: Session, name: str, inputs: list, options: dict, work: Path, tune: int, steps: int) -> dict:
    runs, seconds = {}, {}
    for label, n in (("plain", 0), ("tuned", tune)):
        folder = work / name / label
        folder.parent.mkdir(exist_ok=True)
        started = time.perf_counter()
        summary = pipeline.morph(inputs, f"{folder}/", steps=steps, tune=n, cache=False, session=session,
                                 log=lambda m: None, **options)
        seconds[label] = round(time.perf_counter() - started, 2)
        runs[label] = (summary, read(folder))
    (plain, plain_frames), (tuned, tuned_frames) = runs["plain"], runs["tuned"]
    report = tuned["reconstruction"]
    out = {"case": name, "psnr": [e["psnr"] for e in report], "untuned_psnr": [e["untuned_psnr"] for e in report],
           "plain_psnr": [e["psnr"] for e in plain["reconstruction"]]}
    if not options.get("paste") and options.get("layers", "all") == "all":
        size = session.model.size
        checks = [(0, 0)] + ([(-1, len(inputs) - 1)] if not (options.get("loop") or options.get("pingpong")) else [])
        out["end_check"] = [round(psnr(tuned_frames[f], as_encoder_saw(Path(inputs[i]), size)), 2)
                            if Path(inputs[i]).suffix != ".npy" else None for f, i in checks]
    d_tuned, d_plain = steps_of(tuned_frames), steps_of(plain_frames)
    moving = d_plain > 0
    out["held_frames_still"] = bool((d_tuned[~moving] == 0).all())
    out["spike_tuned"] = round(float(d_tuned.max() / np.median(d_tuned[moving])), 2)
    out["spike_plain"] = round(float(d_plain.max() / np.median(d_plain[moving])), 2)
    out["step_ratio"] = round(float((d_tuned[moving] / d_plain[moving]).max()), 2)
    if not options.get("paste"):
        plan = blend.plan_frames(len(inputs), steps, loop=options.get("loop", False),
                                 pingpong=options.get("pingpong", False), hold=options.get("hold", 0))
        per = {}
        for i, spec in enumerate(plan):
            if spec.keyframe is None:
                key = f"{spec.src}-{spec.dst}"
                per[key] = min(per.get(key, 99.0), round(psnr(tuned_frames[i], plain_frames[i]), 2))
        out["segments"] = per
    out["seconds"] = seconds
    return out


# `--table`: the likeness of the ends and the time of a whole CLI run, for these options.
TABLE = {"no option": [], "--tune": ["--tune"], "--tune 100": ["--tune", "100"], "--refine 100": ["--refine", "100"],
         "--refine 100 --tune": ["--refine", "100", "--tune"]}


def table(runs: int) -> None:
    """`interp examples/demo_a.png examples/demo_b.png --weights demo --steps 3 --no-cache --json -o dir/` with
    each of TABLE's options, `runs` rounds (every option once a round, in turn, so drift hits them alike).
    Prints one JSON line per option: the report's PSNR, SSIM (and untuned PSNR) of each end from the first
    round (they are the same every round: tests/test_tune.py checks tuning is repeatable), and the wall and
    CPU seconds, min / median / max over the rounds."""
    import os
    import statistics
    import subprocess

    from benchmarks.bench_tune import run_cli

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    pair = [str(EXAMPLES / "demo_a.png"), str(EXAMPLES / "demo_b.png")]
    times: dict[str, list] = {name: [] for name in TABLE}
    likeness: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            for name, extra in TABLE.items():
                out = Path(tmp) / "summary.json"
                with open(out, "w") as fh:
                    wall, cpu = run_cli([*pair, "--weights", "demo", "--steps", "3", "--no-cache", "--json",
                                         "-o", f"{tmp}/frames/", *extra], env, stdout=fh)
                times[name].append((wall, cpu))
                report = json.loads(out.read_text())["reconstruction"]
                likeness.setdefault(name, [{k: e[k] for k in ("psnr", "ssim", "untuned_psnr")} for e in report])
                subprocess.run(["rm", "-rf", f"{tmp}/frames"], check=True)
    for name in TABLE:
        walls, cpus = zip(*times[name])
        spread = {label: [round(min(v), 2), round(statistics.median(v), 2), round(max(v), 2)]
                  for label, v in (("wall", walls), ("cpu", cpus))}
        print(json.dumps({"options": name, "ends": likeness[name], **spread}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tune", type=int, default=50)
    parser.add_argument("--steps", type=int, default=9)
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--table", type=int, default=0, metavar="RUNS",
                        help="instead: time whole CLI runs with TABLE's options, RUNS rounds")
    args = parser.parse_args()
    if args.table:
        return table(args.table)
    session = Session("demo", "cpu", log=lambda m: None, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        chosen = cases(work, session)
        names = [n for n in args.cases.split(",") if n] or list(chosen)
        for name in names:
            inputs, options = chosen[name]
            print(json.dumps(measure(session, name, inputs, options, work, args.tune, args.steps)), flush=True)


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_tune_edges"))
