"""Deterministic e4e weights from key names (../shared/reference/RECIPE.md), for the golden tests.

Every tensor is drawn from a CPU generator seeded with crc32(key), so the same weights can be
rebuilt anywhere from the key list alone and compared with outputs of the reference code.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import zlib
from pathlib import Path

import torch

GOLDEN_DIR = Path(__file__).parent / "data" / "golden"
FIR = torch.tensor([[1, 3, 3, 1], [3, 9, 9, 3], [3, 9, 9, 3], [1, 3, 3, 1]], dtype=torch.float32) / 16
BN = re.compile(r"^encoder\.(input_layer\.1|body\.\d+\.shortcut_layer\.1|body\.\d+\.res_layer\.[04])\."
                r"(weight|bias|running_mean|running_var)$")


def read_manifest(name: str) -> list[dict]:
    with open(GOLDEN_DIR / name, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        row["shape"] = tuple(json.loads(row["shape"]))
    return rows


def recipe_tensor(key: str, shape: tuple[int, ...], offset: int = 0) -> torch.Tensor:
    """The recipe's tensor for one key (rules R1-R12, first match wins)."""
    if key.endswith(".num_batches_tracked"):
        return torch.zeros([], dtype=torch.int64)
    if re.match(r"^decoder\..*\.kernel$", key):
        return FIR.clone()
    g = torch.Generator()
    g.manual_seed(zlib.crc32(key.encode("utf-8")) + offset)

    def randn():
        return torch.randn(shape, generator=g, dtype=torch.float32)

    if key == "latent_avg":
        return 0.5 * randn()
    m = BN.match(key)
    if m:
        kind = m.group(2)
        if kind == "weight":
            if m.group(1).endswith("res_layer.4"):
                return 0.1 * (1.0 + 0.1 * randn())
            return 1.0 + 0.1 * randn()
        if kind in ("bias", "running_mean"):
            return 0.1 * randn()
        return 1.0 + 0.1 * torch.rand(shape, generator=g, dtype=torch.float32)
    if re.match(r"^encoder\.(input_layer\.2|body\.\d+\.res_layer\.2)\.weight$", key):
        return torch.full(shape, 0.25, dtype=torch.float32)
    if key.startswith("encoder.") and key.endswith(".weight") and len(shape) == 4:
        return randn() * math.sqrt(2.0 / (shape[1] * shape[2] * shape[3]))
    if re.match(r"^decoder\.to_rgb(1|s\.\d+)\.conv\.weight$", key):
        return 0.25 * randn()
    if re.match(r"^decoder\.style\.\d+\.weight$", key):
        return 100.0 * randn()
    if key.endswith(".modulation.bias"):
        return 1.0 + 0.1 * randn()
    if key.endswith(".noise.weight"):
        return 0.1 * randn()
    if key.endswith(".bias"):
        return 0.1 * randn()
    return randn()


def tensor_sha16(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]


def build_golden_checkpoint(path: Path) -> Path:
    """Write the size-64 golden model in the e4e layout (~700 MB) and return its path."""
    rows = read_manifest("e4e64_recipe_keys.tsv")
    state = {}
    latent_avg = None
    for row in rows:
        t = recipe_tensor(row["key"], row["shape"])
        if row["key"] == "latent_avg":
            latent_avg = t
        else:
            state[row["key"]] = t
    opts = {"encoder_type": "Encoder4Editing", "stylegan_size": 64, "start_from_latent_avg": True}
    torch.save({"state_dict": state, "latent_avg": latent_avg, "opts": opts}, str(path))
    return path
