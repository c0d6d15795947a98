"""What the likeness report would say under `--layers` if it measured the frame a later input ends on.

Under `--layers` every frame keeps the first input's rows outside the mask, so the second input's end frame is
never its own code. This script encodes the shipped demo pair (examples/demo_a.png, demo_b.png) with the demo
model, then prints, for each mask, the PSNR and SSIM against demo_b.png's crop of (1) demo_b's own code drawn
whole (what the report measures) and (2) its end frame as the morph shows it (`blend.keyframe_path`), beside
demo_a's code against the same crop (two different faces). Deterministic: no timing.

    .venv/bin/python benchmarks/bench_layers_likeness.py     # ~10 s
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from interp_cli import blend, likeness  # noqa: E402
from interp_cli.pipeline import EncodeSettings, Session  # noqa: E402

MASKS = ("all", "coarse", "middle", "fine", "coarse,middle", "0", "9")


def main() -> None:
    # Nothing to choose; `--help` says what it measures (and runs nothing).
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    with tempfile.TemporaryDirectory() as cache:
        session = Session("demo", "cpu", log=lambda line: None, cache_dir=cache)
        encoded = session.encode_inputs([ROOT / "examples" / "demo_a.png", ROOT / "examples" / "demo_b.png"],
                                        EncodeSettings(cache=False))
    codes, photo = np.stack([code for code, _, _ in encoded]), encoded[1][2]
    own, other = session.frames([codes[1], codes[0]])
    print(f"{'--layers':14s} {'own code':>16s} {'end frame':>16s} {'demo_a code':>16s}   (dB PSNR / SSIM vs demo_b)")
    for spec in MASKS:
        end = next(session.frames([blend.keyframe_path(codes, layer_mask=blend.parse_layers(spec, len(codes[0])))[1]]))
        cells = [f"{likeness.psnr(image, photo):5.1f} / {likeness.ssim(image, photo):.2f}"
                 for image in (own, end, other)]
        print(f"{spec:14s} " + " ".join(f"{cell:>16s}" for cell in cells))


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_layers_likeness"))
