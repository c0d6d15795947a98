"""Where a CLI command's time goes besides the frames: runs `interp ARGS` in this process with timers
around its stages and prints, per stage, wall and CPU seconds (CPU of every thread) and calls.

    .venv/bin/python benchmarks/bench_overhead.py A.jpg B.jpg --weights e4e_random_1024.pt --steps 8 -o x.mp4

`render` (frames and writing, which overlap) and `total` come from the command's own `--json` timings,
added here. Stages nest (alignment holds the detector's stages, `likeness` holds `identity`), so the
rows do not add up. Interpreter start-up and exit are outside: time the whole process for those
(`/usr/bin/time -v`), and `python -X importtime -c 'import interp_cli.pipeline'` splits the imports.
For a first run on a machine, point INTERP_CACHE_DIR at an empty folder: the landmark model is then
parsed, and the checkpoint hashed and checked, as a new user's first morph does.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import sys
import time

# (module, attribute, label): attribute is "Class.method" for a method. Looked up when first needed.
STAGES = [
    ("interp_cli.stops", "import_pipeline", "import torch and the pipeline"),
    ("interp_cli.session", "resolve_weights", "find the weights"),
    ("interp_cli.session", "load_model", "load the checkpoint"),
    ("interp_cli.session", "file_sha256", "sha256 of the checkpoint (first run)"),
    ("interp_cli.align", "align_face", "alignment, in all"),
    ("interp_cli.align.landmarks", "load_shape_predictor", "  landmark model (parsed on a first run)"),
    ("interp_cli.align.detect", "_hog_detectors", "  dlib's HOG detectors (made once a process)"),
    ("interp_cli.align.detect", "hog_candidates", "  HOG scans (upright and turned)"),
    ("interp_cli.align.detect", "haar_candidates", "  Haar cascade"),
    ("interp_cli.align.detect", "_fitted", "  landmark fits and checks"),
    ("interp_cli.align", "render_aligned", "  the FFHQ warp"),
    ("interp_cli.session", "Session.encode_image", "encoder (e4e)"),
    ("interp_cli.session", "Session.release_encoder", "release the encoder"),
    ("interp_cli.session", "Session.likeness", "likeness report"),
    ("interp_cli.identity", "measure_many", "  identity (dlib descriptor)"),
]

_seen: dict[str, list[float]] = {}


def _timed(label: str, function):
    @functools.wraps(function)
    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            row = _seen.setdefault(label, [0.0, 0.0, 0])
            row[0] += time.perf_counter() - wall
            row[1] += time.process_time() - cpu
            row[2] += 1
    return timed


def _wrap_all() -> None:
    for module, attribute, label in STAGES[1:]:
        owner = importlib.import_module(module)
        *classes, name = attribute.split(".")
        for cls in classes:
            owner = getattr(owner, cls)
        if hasattr(owner, name):  # an older tree may lack a stage: its row is left out
            setattr(owner, name, _timed(label, getattr(owner, name)))


def main(argv: list[str]) -> int:
    from interp_cli import cli, stops

    # An older tree imports the pipeline through cli._import_pipeline instead.
    owner = stops if hasattr(stops, "import_pipeline") else cli
    name = "import_pipeline" if owner is stops else "_import_pipeline"
    importing = getattr(owner, name)

    def import_then_wrap():  # the stages live in modules that import torch: wrapped once it is loaded
        pipeline = importing()
        _wrap_all()
        return pipeline

    setattr(owner, name, _timed(STAGES[0][2], import_then_wrap))
    argv = [*argv, "--json"] if "--json" not in argv else argv
    out = io.StringIO()
    wall, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(out):
        try:
            cli.main(argv)
        except SystemExit as done:
            code = done.code
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    timings = {}
    for line in reversed(out.getvalue().splitlines()):
        with contextlib.suppress(ValueError):
            timings = json.loads(line).get("timings", {})
            break
    rows = [(label, *_seen[label]) for _, _, label in STAGES if label in _seen]
    rows += [(f"{key} (interp's --json)", seconds, None, None) for key, seconds in timings.items()
             if key in ("render", "total")]
    rows.append(("in main(), in all", wall, cpu, 1))
    print(f"{'stage':42s} {'wall s':>8s} {'cpu s':>8s} {'calls':>6s}")
    for label, seconds, cpu_seconds, calls in rows:
        cpu_text = "" if cpu_seconds is None else f"{cpu_seconds:8.3f}"
        print(f"{label:42s} {seconds:8.3f} {cpu_text:>8s} {'' if calls is None else calls:>6}")
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
