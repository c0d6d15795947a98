"""A seeded fuzzer of the ENVIRONMENT VARIABLES interp reads, with odd values, run for real in subprocesses.

The option fuzzers draw command lines in a clean environment; this one keeps the command lines plain (a demo
morph, an encode, `cache --json`, `weights list`) and draws what `grep -rn environ interp_cli` finds read: empty,
relative, `~`, spaces, a file where a folder is meant, an unreadable folder, very long, non-UTF-8 bytes. Each case
is judged as fuzz_options.judge judges a command (exit 0/1/2, no traceback, one stderr line on a failure, inputs
untouched, no temp or half-written file left) and, on a failure, that the line names the variable.

    HF_HUB_OFFLINE=1 PYTHONPATH=$PWD nice -n 5 python benchmarks/fuzz_env.py --seconds 120 --seed 23 --failures /tmp/e
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_options import _limit, _tree, judge, setup  # one home for a case folder and its verdict

# Folder variables: where interp (or huggingface_hub, or Python's tempfile) writes.
FOLDERS = ("INTERP_CACHE_DIR", "XDG_CACHE_HOME", "HF_HUB_CACHE", "HF_HOME", "TMPDIR")
# Setting variables: a number, a name, a switch.
SETTINGS = {"INTERP_LATENT_CACHE_MB": ("0", "-1", "1e3", "abc", "9" * 40, "nan", " 5 "),
            "INTERP_TUNE_CACHE_MB": ("0", "-1", "abc", "inf"),
            "INTERP_WEIGHTS": ("demo", "nosuch", "./nosuch.pt", "a.png", "~", "exists"),
            "INTERP_FACE_DETECTOR": ("haar", "dlib", "nosuch", "HAAR"),
            "INTERP_TUNE_STALL_S": ("0", "-3", "abc", "1e9"),
            "INTERP_RENDER_AHEAD": ("0", "1", "no"),
            "HF_HUB_ETAG_TIMEOUT": ("abc", "-1"), "HF_HUB_DOWNLOAD_TIMEOUT": ("abc", "0")}
ODD = ("", " ", "rel/cache", "~", "~/x y", "a.png", "locked", "x" * 5000, b"caf\xe9", "with space/and\ttab")
COMMANDS = (["encode", "a.png", "--weights", "demo", "-o", "c.npy", "-q"],
            ["morph", "a.png", "b.png", "--weights", "demo", "--steps", "2", "--size", "64", "-o", "m.gif", "-q"],
            ["cache", "--json"], ["weights", "list"], ["weights", "path"], ["weights", "path", "demo"])


def draw(rng: random.Random) -> tuple[str, str | bytes, list[str]]:
    if rng.random() < 0.5:
        name, value = rng.choice(FOLDERS), rng.choice(ODD)
    else:
        name = rng.choice(sorted(SETTINGS))
        value = rng.choice(SETTINGS[name] + ("", b"\xff\xfe"))
    return name, value, list(rng.choice(COMMANDS))


def run_case(name: str | None, value: str | bytes, argv: list[str], timeout: float) -> dict:
    from interp_cli.stops import run_child, script_temp

    with script_temp("envfuzz-") as folder:
        work, cache = folder / "w", folder / "cache"
        work.mkdir()
        setup(work, "weights")
        locked = work / "locked"
        locked.mkdir()
        locked.chmod(0)
        env = {k.encode(): v.encode() for k, v in os.environ.items()}
        env.update({b"HF_HUB_OFFLINE": b"1", b"INTERP_CACHE_DIR": str(cache).encode(),
                    b"HF_HUB_CACHE": str(cache / "huggingface").encode(), b"PYTHONPATH": str(Path.cwd()).encode()})
        env.pop(b"INTERP_WEIGHTS", None)
        if name:  # None: the control, the same command in the fuzzer's clean environment
            env[name.encode()] = value if isinstance(value, bytes) else value.encode()
        before = _tree(work)
        try:
            done = run_child([sys.executable, "-m", "interp_cli", *argv], cwd=work, env=env, capture_output=True,
                             text=True, timeout=timeout, preexec_fn=_limit(6), errors="replace",
                             stdin=subprocess.DEVNULL)
            rc, out, err = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as e:
            rc, out, err = None, str(e.stdout or ""), str(e.stderr or "")
        locked.chmod(0o700)
        after = _tree(work)
        # The locked folder and what the case may name as a cache inside work are the case's: a relative cache
        # folder is written where the command runs, as documented; only temps and touched inputs count there.
        made = {p: d for p, d in after.items() if p not in before}
        problems = judge(argv, ["a.png", "b.png", "demo.pt"], rc, out, err, before,
                         {**after, **{p: "" for p in made}} if rc == 0 else after, {})
        if rc == 0:
            problems = [p for p in problems if not p.startswith("wrote what no option named")]
    return {"name": name, "value": value.decode("latin-1") if isinstance(value, bytes) else value[:200],
            "argv": argv, "rc": rc, "stderr": err[-2000:], "problems": problems}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--failures", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    rng, end, ran, failed = random.Random(f"env:{args.seed}"), time.monotonic() + args.seconds, 0, 0
    controls: dict[str, dict] = {}
    while time.monotonic() < end:
        name, value, argv = draw(rng)
        case = run_case(name, value, argv, args.timeout)
        key = " ".join(argv)
        if key not in controls:
            controls[key] = run_case(None, "", argv, args.timeout)
        # A failure the variable made (the clean environment's run of the command succeeded, or failed otherwise)
        # must say which variable: the user did not type it.
        if case["rc"] in (1, 2) and name not in case["stderr"] and \
                (case["rc"], case["stderr"]) != (controls[key]["rc"], controls[key]["stderr"]):
            case["problems"].append(f"a failure the control has not, and its line does not name ${name}")
        ran += 1
        shown = value[:40] if isinstance(value, str) else value
        print(f"{'FAIL' if case['problems'] else 'ok  '} {name}={shown!r} {' '.join(argv)}: exit {case['rc']}"
              + (f" {case['problems']}" if case["problems"] else ""), flush=True)
        if case["problems"]:
            failed += 1
            if args.failures:
                args.failures.mkdir(parents=True, exist_ok=True)
                (args.failures / f"{ran:04d}.json").write_text(json.dumps(case, indent=1))
    print(f"env: {ran} cases, {failed} failures (seed {args.seed})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
