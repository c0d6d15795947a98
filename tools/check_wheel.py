"""Prove that an installed interp carries its demo model: build, install into a clean venv, morph elsewhere.

`make test-wheel` (run by `.ci/run`):

1. `python -m build` makes the sdist, then the wheel *from that sdist*, so both must carry
   `interp_cli/data/demo.pt` and `demo.json` (checked in the archives too, with the wheel's size);
2. a new venv, outside the repo, gets torch ($TORCH_SPEC, the cached CPU wheel) and then the wheel,
   its other dependencies from the index;
3. from an empty folder outside the repo, `interp weights list --json` must show the demo as present
   inside that venv's site-packages, and `interp A B --weights demo` must write a GIF and report the
   demo preset with the sha256 of the shipped file.

Nothing of the checkout is importable there: the venv is not given the repo on its path and the
commands run from a temp folder, so a demo found at all was found in the installed package.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run outside any venv (`python3 tools/...`): this checkout's interp_cli
# stdlib only: a SIGTERM cleans up as Ctrl-C does, and a stop ends each child's whole group before its files go
from interp_cli.stops import run_child, run_script, script_temp  # noqa: E402
DATA_FILES = ("interp_cli/data/demo.pt", "interp_cli/data/demo.json")
# The 13.6 MB model plus code: anything much bigger means something else slipped into the wheel.
MAX_WHEEL_BYTES = 16 * 1024 * 1024


def run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return run_child(cmd, check=True, **kwargs)


def fail(message: str) -> None:
    raise SystemExit(f"check_wheel: FAILED: {message}")


def main() -> None:
    # Its settings are make's variables, passed as TORCH_SPEC and TORCH_INDEX; `--help` says what it does (and
    # builds nothing: it took minutes and GBs).
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog="environment: TORCH_SPEC (default torch==2.13.0), TORCH_INDEX (default: PyPI)"
                            ).parse_args()
    torch_spec = os.environ.get("TORCH_SPEC", "torch==2.13.0")
    with script_temp("interp-wheel-check-") as work:
        # The commands' own temp folder, inside ours: a pip that a stop kills leaves its pip-* folders where they
        # go with the rest.
        (work / "tmp").mkdir()
        os.environ["TMPDIR"] = str(work / "tmp")
        check(work, torch_spec, os.environ.get("TORCH_INDEX", ""))
    print("check_wheel: OK: sdist and wheel carry the demo model; an installed wheel morphs with --weights demo")


def torch_install(py: Path, torch_spec: str, torch_index: str = "") -> list:
    """The pip command that installs torch as `make install` does: from `torch_index` (`TORCH_INDEX`,
    e.g. PyTorch's CPU index) when one is given, else from PyPI."""
    return [py, "-m", "pip", "install", "-q", torch_spec, *(["--index-url", torch_index] if torch_index else [])]


def check(work: Path, torch_spec: str, torch_index: str = "") -> None:
    venv = work / "venv"
    py = venv / "bin" / "python"
    run([sys.executable, "-m", "venv", venv])
    run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run(torch_install(py, torch_spec, torch_index))  # its own command: `build` is not on PyTorch's index
    run([py, "-m", "pip", "install", "-q", "build"])

    dist = work / "dist"
    run([py, "-m", "build", "--outdir", dist, ROOT], stdout=subprocess.DEVNULL)
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    for name in DATA_FILES:
        if name not in in_sdist:
            fail(f"{sdist.name} lacks {name}")
        if name not in in_wheel:
            fail(f"{wheel.name} lacks {name}")
    size = wheel.stat().st_size
    if size > MAX_WHEEL_BYTES:
        fail(f"{wheel.name} is {size:,} bytes, over {MAX_WHEEL_BYTES:,}: {sorted(in_wheel)}")
    print(f"check_wheel: {wheel.name} {size:,} bytes, {sdist.name} {sdist.stat().st_size:,} bytes, both with "
          f"{', '.join(DATA_FILES)}")

    run([py, "-m", "pip", "install", "-q", wheel])
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    for name in ("demo_a.png", "demo_b.png"):
        shutil.copy(ROOT / "examples" / name, elsewhere / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERP_", "PYTHON"))}
    env.update(HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(work / "cache"))
    interp = venv / "bin" / "interp"
    site = Path(run_child([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    shipped = site / "interp_cli" / "data" / "demo.pt"

    listed = run([interp, "weights", "list", "--json"], cwd=elsewhere, env=env, capture_output=True, text=True)
    demo = {row["name"]: row for row in json.loads(listed.stdout)}["demo"]
    if not demo["present"] or Path(demo["path"]) != shipped:
        fail(f"`interp weights list` shows demo as present={demo['present']} at {demo['path']}, expected {shipped}")
    human = run([interp, "weights", "list"], cwd=elsewhere, env=env, capture_output=True, text=True).stdout
    lines = human.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("demo")), None)
    # Each preset is a header line, then size/license, then where it is ("not downloaded" when absent).
    if header is None or lines[header + 2].strip() != str(shipped):
        fail(f"`interp weights list` does not show the shipped demo at {shipped}:\n{human}")

    out = elsewhere / "morph.gif"
    morphed = run([interp, "demo_a.png", "demo_b.png", "--weights", "demo", "--no-align", "--steps", "4",
                   "-o", out.name, "--json"], cwd=elsewhere, env=env, capture_output=True, text=True)
    report = json.loads(morphed.stdout.strip().splitlines()[-1])
    sidecar = json.loads((site / "interp_cli" / "data" / "demo.json").read_text())
    if not out.is_file() or out.stat().st_size == 0:
        fail(f"the morph wrote no {out.name}")
    used = report["weights"]
    if (used["id"], Path(used["path"]), used["sha256"]) != ("demo", shipped, sidecar["sha256"]):
        fail(f"the morph did not use the shipped demo {shipped} (sha256 {sidecar['sha256']}): {used}")
    print(f"check_wheel: morphed outside the repo with the installed demo: {out.name} {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    sys.exit(run_script(main, "check_wheel"))
