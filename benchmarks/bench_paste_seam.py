"""The --paste seam at different face sizes (benchmarks/README.md, "`--paste` with photos as cameras make them").

    .venv/bin/python benchmarks/bench_paste_seam.py          # about a minute on 2 cores; needs the align extra

tests/data/faces/obama.jpg is scaled (80, 200, 400 px wide, and 3098 px: 12 MP), put at half size into a
4000x3000 photo (a tiny face in a big photo) and cut by its left edge, and each is morphed towards biden.jpg
with the demo model (3 frames). For frame 0 (the photo's own reconstruction) and the last frame it prints: the
face's crop side, the erosion w, the feather ring's width (0 < alpha < 1, its area over its outline's length),
the seam difference without and with colour matching (`Paster.seam_difference`), the mean |frame - photo| in a
band w px wide just outside the mask, in the ring and in the core (alpha = 1), and the step of the mean colour
from that outer band to the ring, in the frame and in the photo itself (a seam the blend adds shows as a larger
step in the frame).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from interp_cli.stops import run_script  # noqa: E402  (a SIGTERM cleans up as Ctrl-C does)

from interp_cli.align.ffhq import quad_side  # noqa: E402
from interp_cli.images import load_image  # noqa: E402
from interp_cli.paste import Paster, feather_mask  # noqa: E402
from interp_cli.pipeline import Session  # noqa: E402
from interp_cli.session import EncodeSettings  # noqa: E402

FACES = ROOT / "tests" / "data" / "faces"


def photos(folder: Path) -> dict[str, Path]:
    """The photos measured, written into `folder` as PNG (lossless)."""
    source = ImageOps.exif_transpose(Image.open(FACES / "obama.jpg")).convert("RGB")
    made = {}

    def save(name: str, image: Image.Image) -> None:
        made[name] = folder / f"{name}.png"
        image.save(made[name])

    for width in (80, 200, 400, 3098):
        save(f"obama {width} px wide", source.resize((width, round(width * source.height / source.width)),
                                                     Image.Resampling.LANCZOS))
    save("obama.jpg", source)
    # A face-free backdrop (the photo's flags and curtain, stretched), the face at half size near its corner.
    big = source.crop((0, 0, 300, source.height)).resize((4000, 3000), Image.Resampling.BICUBIC)
    half = source.resize((source.width // 2, source.height // 2), Image.Resampling.LANCZOS)
    big.paste(half, (2600, 3000 - half.height))
    save("half-size obama in 4000x3000", big)
    save("cut by the left edge at x = 400", source.crop((400, 0, source.width, source.height)))
    return made


def measure(session: Session, name: str, path: Path, other: Path) -> str:
    faces = list(session.morph_frames([path, other], steps=3, align=True))  # the rendered faces, unpasted
    where = session.encode_photo(path, EncodeSettings(align=True))[1]
    photo = np.asarray(load_image(path))
    plain = Paster(photo, where.quad, where.landmarks, face_size=session.model.size, match_colour=False)
    matched = Paster(photo, where.quad, where.landmarks, face_size=session.model.size)
    erode = feather_mask(photo.shape[:2], matched.polygon, matched.quad).feather
    alpha = matched.mask()
    ring, core = (alpha > 0) & (alpha < 1), alpha >= 1
    support = (alpha > 0).astype(np.uint8)
    reach = max(1, round(erode))
    outer = (cv2.dilate(support, np.ones((2 * reach + 1,) * 2, np.uint8)) > 0) & (alpha == 0)
    outline = cv2.findContours(support, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]
    ring_width = ring.sum() / sum(cv2.arcLength(c, True) for c in outline)
    frame = matched.paste(faces[0]).astype(int)
    off = np.abs(frame - photo).mean(axis=2)

    def step(image: np.ndarray) -> float:
        return float(np.abs(image[ring].mean(axis=0) - image[outer].mean(axis=0)).mean())

    return (f"| {name} | {quad_side(where.quad):.0f} | {erode:.1f} | {ring_width:.1f} | "
            f"{plain.seam_difference(faces[0]):.1f} / {matched.seam_difference(faces[0]):.1f} | "
            f"{plain.seam_difference(faces[-1]):.1f} / {matched.seam_difference(faces[-1]):.1f} | "
            f"{off[outer].mean():.2f} / {off[ring].mean():.1f} / {off[core].mean():.1f} | "
            f"{step(frame):.1f} / {step(photo.astype(int)):.1f} |")


def main() -> None:
    # Nothing to choose; `--help` says what it measures (and runs nothing).
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    warnings.simplefilter("ignore")  # the demo model's "reproduces this photo poorly", for every photo
    session = Session("demo")
    print("| photo | crop px | w px | ring px | seam f0 | seam last | outside / ring / core | step frame / photo |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, path in photos(Path(folder)).items():
            print(measure(session, name, path, FACES / "biden.jpg"), flush=True)


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_paste_seam"))
