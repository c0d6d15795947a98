"""Where a CLI command's time goes besides the frames: runs `interp ARGS` in this process with timers
around its stages and prints, per stage, wall and CPU seconds (CPU of every thread) and calls.

    .venv/bin/python benchmarks/bench_overhead.py A.jpg B.jpg --weights e4e_random_1024.pt --steps 8 -o x.mp4

`render` (frames and writing, which overlap) and `total` come from the command's own `--json` timings,
added here. Stages nest (alignment holds the detector's stages, `likeness` holds `identity`), so the
rows do not add up. Interpreter start-up and exit are outside: time the whole process for those
(`/usr/bin/time -v`), and `python -X importtime -c 'import interp_cli.pipeline'` splits the imports.
For a first run on a machine, point INTERP_CACHE_DIR at an empty folder: the landmark model is then
parsed, and the checkpoint hashed and checked, as a new user's first morph does.

`--runs N` instead times N cold runs of the command in fresh processes (each round: the command itself,
whole-process wall / CPU / peak RSS, then the same command split by stages in another fresh process),
and prints each stage's min / median / max. `--baseline DIR` (another checkout, e.g. a `git worktree` of
an older commit) is timed the same way in every round, alternating with this tree, and `--startup`
adds `interp --help` and `interp --version`:

    .venv/bin/python benchmarks/bench_overhead.py --runs 5 --baseline /tmp/old --startup -- \
        A.jpg B.jpg --weights demo --steps 8 --no-cache -o x.mp4
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import importlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# (module, attribute, label): attribute is "Class.method" for a method. Looked up when first needed.
STAGES = [
    ("interp_cli.stops", "import_pipeline", "import torch and the pipeline"),
    ("interp_cli.session", "resolve_weights", "find the weights"),
    ("interp_cli.session", "load_model", "load the checkpoint"),
    ("interp_cli.session", "file_sha256", "sha256 of the checkpoint (its record, or hashed)"),
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
    ("interp_cli.inputs", "check_inputs", "check the inputs (every photo decoded)"),
    ("interp_cli.images", "load_image", "photos decoded in full (load_image)"),
    ("interp_cli.pipeline", "_paster", "the paster made (--paste: its backdrop read)"),
    ("interp_cli.kept_photos", "KeptPhotos.photo", "  a kept photo read back (none: decoded again)"),
    ("interp_cli.cache", "LatentCache.get", "latent cache lookups"),
    ("interp_cli.write", "Mp4Writer._start", "ffmpeg started (binary found, checked)"),
    ("imageio_ffmpeg", "get_ffmpeg_exe", "  ffmpeg -version (imageio-ffmpeg's check)"),
    ("interp_cli.write", "Mp4Writer._finish", "ffmpeg finishing (its last frames)"),
    ("interp_cli.sheet", "contact_sheet", "contact sheet (--sheet)"),
    ("interp_cli.page", "PageWriter._finish", "page finished (--page)"),
]
GC_FULL, GC_YOUNG = "Python's garbage collector, full collections", "  younger generations"

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


# Stages in a module the command imports only when it needs it (imageio_ffmpeg, for an MP4): wrapped when the
# stage after the arrow first runs, so that importing it here does not add its import to another row.
_LAZY = {"imageio_ffmpeg": ("interp_cli.write", "Mp4Writer._start")}


def _wrap_all() -> None:
    for module, attribute, label in STAGES[1:]:
        if module in _LAZY and module not in sys.modules:
            _wrap_later(module, attribute, label)
            continue
        try:
            owner = importlib.import_module(module)
        except ImportError:  # an older tree may lack a module: its rows are left out
            continue
        *classes, name = attribute.split(".")
        for cls in classes:
            owner = getattr(owner, cls)
        if hasattr(owner, name):  # an older tree may lack a stage: its row is left out
            original = getattr(owner, name)
            setattr(owner, name, _timed(label, original))
            if not classes:  # a function that other modules took by name (`from ... import f`): theirs too
                for other in [m for key, m in sys.modules.items() if key.startswith("interp_cli")]:
                    if getattr(other, name, None) is original:
                        setattr(other, name, getattr(owner, name))


def _wrap_later(module: str, attribute: str, label: str) -> None:
    """Wrap `module.attribute` (a function) the first time the stage `_LAZY[module]` runs, which imports it."""
    owner_name, method = _LAZY[module]
    cls_name, name = method.split(".")
    cls = getattr(importlib.import_module(owner_name), cls_name)
    trigger = getattr(cls, name)

    @functools.wraps(trigger)
    def first(*args, **kwargs):
        setattr(cls, name, trigger)  # once
        target = importlib.import_module(module)
        setattr(target, attribute, _timed(label, getattr(target, attribute)))
        return trigger(*args, **kwargs)

    setattr(cls, name, first)


def _time_collections() -> None:
    """Time every collection of Python's cyclic garbage collector (a row each for full and younger ones)."""
    started = [0.0]

    def timed(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
            return
        row = _seen.setdefault(GC_FULL if info["generation"] == 2 else GC_YOUNG, [0.0, 0.0, 0])
        row[0] += time.perf_counter() - started[0]
        row[2] += 1

    gc.callbacks.append(timed)


def split(argv: list[str]) -> tuple[list[tuple], int]:
    """Run `interp ARGV` in this process with the stage timers: (rows of (label, wall s, cpu s or None,
    calls or None), exit code)."""
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
    _time_collections()
    # The command's own process settings (OpenMP's wait policy, malloc, the import's freeze), which `cli.run`
    # makes and `cli.main` leaves to a Python caller; an older tree made them in main.
    getattr(cli, "_tune_own_process", lambda: None)()
    argv = [*argv, "--json"] if "--json" not in argv else argv
    out = io.StringIO()
    code = 0
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
    labels = [label for _, _, label in STAGES] + [GC_FULL, GC_YOUNG]
    rows = [(label, _seen[label][0], _seen[label][1] if label not in (GC_FULL, GC_YOUNG) else None, _seen[label][2])
            for label in labels if label in _seen]
    rows += [(f"{key} (interp's --json)", seconds, None, None) for key, seconds in timings.items()
             if key in ("render", "total")]
    rows.append(("in main(), in all", wall, cpu, 1))
    return rows, int(code or 0)


def _print_rows(rows: list[tuple]) -> None:
    print(f"{'stage':46s} {'wall s':>8s} {'cpu s':>8s} {'calls':>6s}")
    for label, seconds, cpu_seconds, calls in rows:
        cpu_text = "" if cpu_seconds is None else f"{cpu_seconds:8.3f}"
        print(f"{label:46s} {seconds:8.3f} {cpu_text:>8s} {'' if calls is None else calls:>6}")


def _whole_process(command: list[str], env: dict) -> dict:
    """One fresh process: wall, CPU (user + system) and peak RSS, as /usr/bin/time reports them."""
    from interp_cli import stops  # this checkout's, whichever checkout the command runs

    started = time.perf_counter()
    proc = stops.start_child(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    usage = stops.wait_usage(proc)
    wall = time.perf_counter() - started
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}: {stderr.strip()[-400:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024}


def rounds(argv: list[str], runs: int, checkouts: dict[str, Path], startup: bool) -> None:
    """`--runs`: the command cold, `runs` rounds, each checkout in turn within a round."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.spread import spread
    from interp_cli import stops

    whole: dict[str, dict[str, list[float]]] = {name: {} for name in checkouts}
    stages: dict[str, dict[str, list[float]]] = {name: {} for name in checkouts}
    order: list[str] = []
    with stops.script_temp("interp-overhead-") as tmp:
        for round_ in range(runs):
            for name, checkout in checkouts.items():
                env = dict(os.environ, PYTHONPATH=str(checkout), HF_HUB_OFFLINE="1")
                env.pop("PYTHONDONTWRITEBYTECODE", None)  # an install has its .pyc: time with them
                command = [sys.executable, "-m", "interp_cli", *argv]
                for key, value in _whole_process(command, env).items():
                    whole[name].setdefault(f"the command, whole process: {key}", []).append(value)
                if startup:
                    for flag in ("--help", "--version"):
                        seconds = _whole_process([sys.executable, "-m", "interp_cli", flag], env)["wall"]
                        whole[name].setdefault(f"interp {flag}, whole process: wall", []).append(seconds)
                report = Path(tmp) / f"{name}-{round_}.json"
                stops.run_child([sys.executable, __file__, "--child", str(report), "--", *argv], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                for label, seconds, _cpu, _calls in json.loads(report.read_text()):
                    stages[name].setdefault(label, []).append(seconds)
                    if label not in order:
                        order.append(label)
            print(f"round {round_ + 1}/{runs} done", file=sys.stderr, flush=True)
    names = list(checkouts)
    print(f"`interp {' '.join(argv)}`, {runs} cold runs each, min / median / max (wall s unless said)")
    print("| " + " | ".join(["stage", *names]) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label in [*whole[names[0]], *order]:
        cells = []
        for name in names:
            values = whole[name].get(label, stages[name].get(label))
            fmt = "{:.0f}" if label.endswith("rss_mib") else "{:.3f}"
            # A stage the run never reached counts as 0 s in the rounds it was missing from.
            cells.append("-" if not values else spread([*values, *[0.0] * (runs - len(values))], fmt))
        print("| " + " | ".join([label, *cells]) + " |")
    if len(names) == 2:  # each round's pair, this tree over the baseline: the drift between rounds cancels
        for key in ("wall", "cpu"):
            label = f"the command, whole process: {key}"
            ratios = [a / b for a, b in zip(whole[names[0]][label], whole[names[1]][label])]
            print(f"{key}, {names[0]} / {names[1]}, paired by round: {spread(ratios)}")


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]) or not argv:  # the rest is interp's own command line, `--help` included
        usage = f"usage: {Path(__file__).name} [--runs N [--baseline DIR] [--startup] --] INTERP_ARGS..."
        print(f"{usage}\n\n{__doc__}" if argv else usage, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[:1] == ["--child"]:  # one cold run of --runs, its stages written as JSON
        rows, code = split(argv[3:] if argv[2:3] == ["--"] else argv[2:])
        Path(argv[1]).write_text(json.dumps(rows))
        return code
    if "--runs" in argv:
        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        parser.add_argument("--runs", type=int, required=True)
        parser.add_argument("--baseline", type=Path, help="another checkout, timed in turn with this one")
        parser.add_argument("--startup", action="store_true", help="also time interp --help and --version")
        parser.add_argument("command", nargs="+", help="interp's arguments (after --)")
        args = parser.parse_args(argv)
        checkouts = {"this tree": Path(__file__).resolve().parents[1]}
        if args.baseline is not None:
            checkouts["baseline"] = args.baseline.resolve()
        sys.path.insert(0, str(checkouts["this tree"]))
        from interp_cli.stops import run_script  # a SIGTERM cleans up as Ctrl-C does

        return run_script(lambda: rounds(args.command, args.runs, checkouts, args.startup), "bench_overhead")
    rows, code = split(argv)
    _print_rows(rows)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
