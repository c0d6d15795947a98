"""Stop every verb at a random moment (SIGINT, SIGTERM, SIGHUP or SIGKILL), then check what a user relies on.

    PYTHONPATH=. .venv/bin/python benchmarks/stress_stops.py --seed 1 [--minutes 5] [--cases mp4,batch]

Per case (a verb on the demo model, offline) it first makes an older output (other --steps) and times the
verb once (T, its new output), then, again and again: puts the older output back, starts the verb in a session
of its own, sends a signal drawn from the seed (to the process, or to its group as a terminal's Ctrl-C does)
after a moment drawn from [0, 1.1 T], or (half the runs) from [0, 0.5 s] after the first hidden temp appears
(an output, a cache entry or a download under way), and checks:
  - the exit code: 130 SIGINT, 143 SIGTERM, 129 SIGHUP (README's "Scripting"), 0 if it had finished, -9 SIGKILL;
    -N (killed by the signal), or 1 with "Fatal Python error: init_import_site", only in the interpreter's own
    start-up, before interp's first line (stops_at_start.py), with no frame of interp's in the traceback;
  - no traceback on stderr;
  - each output file is byte-equal to the older one or the new one (none half-written; for a batch: absent or new);
  - no hidden temp (`.*.tmp-*`, `.*.old-*`, `.*.claim-*`) in the output folder, the cache or HF_HOME (SIGKILL
    excepted: there the rerun, then `interp cache`, must have removed it, as README's "Scripting" says);
  - no process left that carries the run's token in its environment (ffmpeg runs in a session of its own);
  - the rerun (a batch: with --skip-existing, which skips the rows made) exits 0 with the new output.
Prints one line per failed check and a closing JSON line of counts per case and signal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interp_cli.stops import run_script  # noqa: E402

A, B = ROOT / "examples" / "demo_a.png", ROOT / "examples" / "demo_b.png"
PHOTO_A, PHOTO_B = ROOT / "examples" / "obama.jpg", ROOT / "examples" / "biden.jpg"
SIGNALS = {"INT": signal.SIGINT, "TERM": signal.SIGTERM, "HUP": signal.SIGHUP, "KILL": signal.SIGKILL}
EXPECTED = {"INT": 130, "TERM": 143, "HUP": 129, "KILL": -9}
TEMP_MARKS = (".tmp-", ".old-", ".claim-")


def morph(*extra):
    return ["-m", "interp_cli", str(A), str(B), "--weights", "demo", *extra]


# name -> (argv after python given the steps, the outputs it makes relative to the work dir, the rerun's extra)
CASES = {
    "mp4": lambda s: morph("--steps", s, "-o", "out/m.mp4"),
    "gif": lambda s: morph("--steps", s, "-o", "out/m.gif"),
    "frames": lambda s: morph("--steps", s, "-o", "out/f/"),
    "html": lambda s: morph("--steps", s, "-o", "out/m.html"),
    "sheet": lambda s: morph("--steps", s, "--sheet", "out/s.png", "-o", "out/m.mp4"),
    "paste": lambda s: ["-m", "interp_cli", str(PHOTO_A), str(PHOTO_B), "--weights", "demo", "--paste",
                        "--size", "256", "--steps", s, "-o", "out/p.mp4"],
    "tune": lambda s: morph("--tune", "4", "--steps", s, "-o", "out/t.mp4"),
    "batch": lambda s: ["-m", "interp_cli", "batch", "pairs.csv", "--outdir", "out", "--weights", "demo",
                        "--steps", s, "--json"],
    "download": lambda s: ["-m", "tests.hub_server", "weights", "download", "demohub", "--json"],
}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every visible file under folder, by relative path."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def temps(*folders: Path, marks=TEMP_MARKS) -> list[str]:
    found = []
    for folder in folders:
        with contextlib.suppress(OSError):  # a folder removed while it is walked
            found += [str(p) for p in folder.rglob("*") if any(mark in p.name for mark in marks)]
    return found


def left_processes(token: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if f"STRESS_TOKEN={token}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
    return pids


class Case:
    def __init__(self, name: str, root: Path, hub_env: dict):
        self.name, self.root = name, root
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), INTERP_CACHE_DIR=str(root / "cache"),
                        HF_HUB_OFFLINE="1", HF_HOME=str(root / "hf"))
        if name == "download":
            self.env.update(hub_env)
            self.env.pop("HF_HUB_OFFLINE")
        (root / "pairs.csv").write_text("".join(f"{A},{B},r{i}.mp4\n" for i in range(3)))
        self.out = root / ("hf" if name == "download" else "out")
        self.old = self.make("6") if name not in ("batch", "download") else {}
        started = time.monotonic()
        self.new = self.make("12")
        self.seconds = time.monotonic() - started

    def argv(self, steps: str, rerun: bool = False) -> list[str]:
        argv = [sys.executable, *CASES[self.name](steps)]
        return argv + ["--skip-existing"] if rerun and self.name == "batch" else argv

    def run(self, argv, token="none", **kw) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=self.root, env=dict(self.env, STRESS_TOKEN=token), capture_output=True,
                              timeout=600, **kw)

    def make(self, steps: str) -> dict[str, bytes]:
        self.reset({})
        done = self.run(self.argv(steps))
        if done.returncode:
            raise SystemExit(f"{self.name}: {done.returncode} {done.stderr.decode()[-2000:]}")
        return snapshot(self.out)

    def reset(self, files: dict[str, bytes]) -> None:
        shutil.rmtree(self.out, ignore_errors=True)
        if self.name == "download":
            shutil.rmtree(self.root / "hf", ignore_errors=True)
        for rel, data in files.items():
            (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.out / rel).write_bytes(data)

    def trial(self, rng: random.Random, run: int) -> tuple[str, float, list[str]]:
        """One stop: (signal name, moment, what failed)."""
        name = rng.choice(list(SIGNALS))
        group = rng.random() < 0.5
        anchored = rng.random() < 0.5
        moment = rng.uniform(0, 0.5) if anchored else rng.uniform(0, 1.1 * self.seconds)
        self.reset(self.old)
        token = f"{os.getpid()}-{self.name}-{run}"
        proc = subprocess.Popen(self.argv("12"), cwd=self.root, env=dict(self.env, STRESS_TOKEN=token),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        if anchored:  # the moment counts from the first hidden temp seen (the write under way), polled each 5 ms
            while not temps(self.out, self.root / "cache", self.root / "hf", marks=TEMP_MARKS + (".incomplete",)):
                if proc.poll() is not None:
                    break
                time.sleep(0.005)
        time.sleep(moment)
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if group else os.kill)(proc.pid, SIGNALS[name])
        _, stderr = proc.communicate(timeout=600)
        code, text = proc.returncode, stderr.decode(errors="replace")
        failed = []
        # Stopped in the interpreter's own start-up, before interp_cli/__main__.py's first line holds the stops
        # (stops_at_start.py): killed by the signal (-N, with Python's traceback for SIGINT), or inside `site` (the
        # .pth files) "Fatal Python error: init_import_site" and exit 1. Never with a frame of interp's own: the
        # import of stops.py was such a window until the hold moved ahead of it.
        startup = (name != "KILL" and not anchored and moment < 0.3 and "/interp_cli/" not in text and
                   (code == -SIGNALS[name] or (code == 1 and "init_import_site" in text)))
        if code not in (EXPECTED[name], 0) and not startup:
            failed.append(f"exit {code}")
        if startup:
            print(f"  note: {self.name} {name} at {moment:.3f}s killed by the signal (start-up)", flush=True)
        elif "Traceback" in text:
            failed.append("traceback: " + text[-600:])
        state = snapshot(self.out)
        for rel in set(state) | set(self.new) | set(self.old):
            if self.name == "download":
                break
            if state.get(rel) not in ({self.old.get(rel), self.new.get(rel)} - ({None} if code == 0 else set())):
                failed.append(f"{rel}: {'missing' if rel not in state else 'neither old nor new'}")
        if code == 0 and self.name != "download" and state != self.new:
            failed.append("exit 0 without the new output")
        deadline = time.monotonic() + 3
        while (left := left_processes(token)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if left:
            failed.append(f"processes left: {[Path(f'/proc/{p}/cmdline').read_bytes()[:80] for p in left]}")
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        places = (self.out, self.root / "cache", self.root / "hf")
        if name != "KILL" and (found := temps(*places)):
            failed.append(f"temps left: {found}")
        rerun = self.run(self.argv("12", rerun=True), token)
        if rerun.returncode:
            failed.append(f"rerun exit {rerun.returncode}: {rerun.stderr.decode()[-400:]}")
        elif self.name != "download" and snapshot(self.out) != self.new:
            failed.append("rerun's output differs from the new one")
        if self.name == "batch" and not rerun.returncode:
            rows = [json.loads(line) for line in rerun.stdout.decode().splitlines()]
            skipped = {Path(r["output"]).name for r in rows if r.get("skipped") is True}  # not the summary's count
            if skipped != {rel for rel in state if state[rel] == self.new.get(rel)}:
                failed.append(f"rerun skipped {sorted(skipped)}, made before: {sorted(state)}")
        if name == "KILL":
            self.run([sys.executable, "-m", "interp_cli", "cache", "--json"], token)
            if found := temps(*places):
                failed.append(f"temps left after the rerun and `interp cache`: {found}")
        return name + ("/group" if group else "") + ("/anchored" if anchored else ""), moment, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    from tests.test_hub_download import DEMO, REPO, _preset
    from tests.hub_server import Fault, LocalHub

    hub = LocalHub(fault=Fault(rate=8_000_000, on="GET"))  # the 14 MB demo file in about 2 s
    demo = json.loads(DEMO.with_suffix(".json").read_text())
    hub.put(REPO, "demo.pt", DEMO.read_bytes())
    hub_env = dict(HF_ENDPOINT=hub.endpoint,
                   INTERP_TEST_PRESETS=json.dumps([_preset("demohub", "demo.pt", demo["sha256"], demo["size"])]))
    counts: dict[str, dict[str, list[int]]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="stress-stops-") as tmp:
            cases = []
            for name in args.cases.split(","):
                (Path(tmp) / name).mkdir()
                cases.append(Case(name, Path(tmp) / name, hub_env))
                print(f"{name}: {cases[-1].seconds:.2f} s", flush=True)
            end, run = time.monotonic() + 60 * args.minutes, 0
            while time.monotonic() < end:
                case = cases[run % len(cases)]
                sig, moment, failed = case.trial(rng, run)
                tally = counts.setdefault(case.name, {}).setdefault(sig.split("/")[0], [0, 0])
                tally[0] += 1
                tally[1] += bool(failed)
                for line in failed:
                    print(f"run {run} {case.name} {sig} at {moment:.3f}s: {line}", flush=True)
                run += 1
    finally:
        hub.close()
    print(json.dumps({"seed": args.seed, "runs": run, "runs_failed_per_case_and_signal": counts}))


if __name__ == "__main__":
    sys.exit(run_script(main, "stress_stops"))
