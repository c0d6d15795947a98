"""The likeness report: PSNR / SSIM of each input's rendered code against the crop the encoder saw.

The metrics are checked against plain formulas; the CLI's reported PSNR is recomputed here from
`interp encode` + `interp render`; a non-face pattern through the demo model gets the warning and
a demo face does not.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from interp_cli import likeness
from interp_cli.cli import cli
from tests.cli_runner import cli_runner

ROOT = Path(__file__).resolve().parents[1]
FACE_A, FACE_B = ROOT / "examples" / "demo_a.png", ROOT / "examples" / "demo_b.png"


def run(*args):
    return cli_runner().invoke(cli, [str(a) for a in args])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0 ** 2 / mse)


# --- the metrics -----------------------------------------------------------------------------


def test_psnr_matches_the_formula_and_caps_identical_images():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    assert likeness.psnr(a, b) == pytest.approx(_psnr(a, b), abs=1e-9)
    assert likeness.psnr(a, a) == likeness.MAX_PSNR_DB
    with pytest.raises(ValueError):
        likeness.psnr(a, a[:-1])


def test_ssim_matches_a_window_by_window_computation():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (16, 18, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) // 2 + rng.integers(0, 60, a.shape), 0, 255).astype(np.uint8)
    # Wang et al. 2004 written out: Gaussian weights (11x11, sigma 1.5) at every position where the window fits.
    r = np.arange(11) - 5
    w = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5 ** 2))
    w /= w.sum()
    x, y = a / 255.0, b / 255.0
    values = []
    for c in range(3):
        for i in range(16 - 10):
            for j in range(18 - 10):
                px, py = x[i:i + 11, j:j + 11, c], y[i:i + 11, j:j + 11, c]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
                cxy = (w * (px - mx) * (py - my)).sum()
                values.append((2 * mx * my + 1e-4) * (2 * cxy + 9e-4) / ((mx ** 2 + my ** 2 + 1e-4) * (vx + vy + 9e-4)))
    assert likeness.ssim(a, b) == pytest.approx(float(np.mean(values)), abs=1e-9)
    assert likeness.ssim(a, a) == pytest.approx(1.0)
    assert likeness.ssim(a, 255 - a) < 0


# --- through the CLI, on the demo model ------------------------------------------------------


def test_reported_psnr_agrees_with_encode_then_render(tmp_path):
    # A larger photo than the model (192 px for 64 px), so the target really is a resized crop.
    photo = tmp_path / "face.png"
    Image.open(FACE_A).convert("RGB").resize((192, 192), Image.LANCZOS).save(photo)
    enc = run("encode", photo, "--weights", "demo", "-o", tmp_path / "face.npy", "--json")
    assert enc.exit_code == 0, enc.stderr
    reported = json.loads(enc.stdout)["reconstruction"]
    assert [r["input"] for r in reported] == [str(photo)]
    assert run("render", tmp_path / "face.npy", "--weights", "demo", "-o", tmp_path / "face_render.png",
               "-q").exit_code == 0
    rendered = np.asarray(Image.open(tmp_path / "face_render.png").convert("RGB"))
    # The target as documented: the crop resized the way the encoder's input is (Pillow BILINEAR). A
    # BICUBIC target here differed by 1 dB once a model reconstructed this face at 29.8 dB.
    target = np.asarray(Image.open(photo).convert("RGB").resize(rendered.shape[:2][::-1], Image.BILINEAR))
    assert abs(reported[0]["psnr"] - _psnr(rendered, target)) < 0.05, (reported, _psnr(rendered, target))

    morph = run(photo, FACE_B, tmp_path / "face.npy", "--weights", "demo", "--steps", 3, "-o", tmp_path / "m.gif",
                "--json")
    assert morph.exit_code == 0, morph.stderr
    entries = json.loads(morph.stdout)["reconstruction"]
    assert [e["input"] for e in entries] == [str(photo), str(FACE_B), str(tmp_path / "face.npy")]
    assert entries[0]["psnr"] == pytest.approx(reported[0]["psnr"], abs=0.05)
    assert 0 < entries[1]["ssim"] <= 1
    assert entries[2] == {"input": str(tmp_path / "face.npy"), "psnr": None, "ssim": None, "poor": False}


def test_a_non_face_pattern_is_warned_about_and_a_demo_face_is_not(tmp_path):
    yy, xx = np.mgrid[0:64, 0:64]
    pattern = tmp_path / "stripes.png"
    Image.fromarray(np.where(((xx // 4) % 2 == 0)[..., None], 255, 0).repeat(3, -1).astype(np.uint8)).save(pattern)
    result = run(pattern, FACE_B, "--weights", "demo", "--steps", 3, "-o", tmp_path / "m.gif")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    # The demo model cannot draw anything but its cartoon faces: --refine would only polish a blur.
    assert "stripes.png" in warnings[0] and "demo model only knows the cartoon faces" in warnings[0]
    assert "--weights ffhq" in warnings[0] and "--refine" not in warnings[0]
    assert "likeness: stripes.png" in result.stderr and "(poor)" in result.stderr

    faces = run(FACE_A, FACE_B, "--weights", "demo", "--steps", 3, "-o", tmp_path / "f.gif", "--json")
    assert faces.exit_code == 0
    assert not [e for e in json.loads(faces.stdout)["reconstruction"] if e["poor"]]
    quiet_faces = run(FACE_A, FACE_B, "--weights", "demo", "--steps", 3, "-o", tmp_path / "g.gif")
    assert "warning" not in quiet_faces.stderr
