"""The likeness report: PSNR / SSIM of each input's rendered code against the crop the encoder saw.

The metrics are checked against plain formulas; the CLI's reported PSNR is recomputed here from
`interp encode` + `interp render`; a non-face pattern through the demo model gets the warning and
a demo face does not. With dlib, a reconstruction that is another person, or no face, is poor
whatever its PSNR, and the warning suggests --tune where the command has it (the identity measure
itself: test_identity.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from interp_cli import identity, likeness
from interp_cli.cli import cli
from interp_cli.errors import cli_words
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
    Image.open(FACE_A).convert("RGB").resize((192, 192), Image.Resampling.LANCZOS).save(photo)
    enc = run("encode", photo, "--weights", "demo", "-o", tmp_path / "face.npy", "--json")
    assert enc.exit_code == 0, enc.stderr
    reported = json.loads(enc.stdout)["reconstruction"]
    assert [r["input"] for r in reported] == [str(photo)]
    assert run("render", tmp_path / "face.npy", "--weights", "demo", "-o", tmp_path / "face_render.png",
               "-q").exit_code == 0
    rendered = np.asarray(Image.open(tmp_path / "face_render.png").convert("RGB"))
    # The target as documented: the crop resized the way the encoder's input is (Pillow BILINEAR). A
    # BICUBIC target here differed by 1 dB once a model reconstructed this face at 29.8 dB.
    target = np.asarray(Image.open(photo).convert("RGB").resize(rendered.shape[:2][::-1], Image.Resampling.BILINEAR))
    assert abs(reported[0]["psnr"] - _psnr(rendered, target)) < 0.05, (reported, _psnr(rendered, target))

    morph = run(photo, FACE_B, tmp_path / "face.npy", "--weights", "demo", "--steps", 3, "-o", tmp_path / "m.gif",
                "--json")
    assert morph.exit_code == 0, morph.stderr
    entries = json.loads(morph.stdout)["reconstruction"]
    assert [e["input"] for e in entries] == [str(photo), str(FACE_B), str(tmp_path / "face.npy")]
    assert entries[0]["psnr"] == pytest.approx(reported[0]["psnr"], abs=0.05)
    assert 0 < entries[1]["ssim"] <= 1
    assert entries[2] == {"input": str(tmp_path / "face.npy"), "psnr": None, "ssim": None, "identity": None,
                          "identity_note": None, "poor": False, "untuned_psnr": None}
    # The demo model's 64 px renders are below identity.MIN_SIZE: no identity, said why.
    assert entries[0]["identity"] is None and entries[0]["identity_note"] == identity.TOO_SMALL


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


# --- identity (dlib's face descriptor; the measure itself is tested in test_identity.py) -----

FACES = ROOT / "tests" / "data" / "faces"
needs_dlib = pytest.mark.skipif(not identity.available(), reason="needs the align extra with dlib-bin")


def _crop(path: Path) -> np.ndarray:
    from interp_cli.align import align_face
    from interp_cli.images import load_image

    return np.asarray(align_face(load_image(path), output_size=256).image)


@needs_dlib
def test_a_reconstruction_that_is_someone_else_is_poor_whatever_its_psnr():
    obama, biden = _crop(FACES / "obama.jpg"), _crop(FACES / "biden.jpg")
    swapped = obama.copy()  # Obama's hair, ears and background around Biden's eyes, nose and mouth
    swapped[80:200, 70:186] = biden[80:200, 70:186]
    entry = likeness.measure(swapped, obama)
    assert entry["psnr"] >= likeness.POOR_PSNR_DB  # PSNR alone would have passed it (measured 20.6 dB)
    assert entry["identity"] > identity.SAME_PERSON and entry["poor"]
    warning = likeness.warning("obama.jpg", entry)
    assert warning.startswith("warning: obama.jpg: ") and "PSNR" not in warning
    assert f"distance {entry['identity']:.2f}" in warning and "try tune=True, refine=100" in warning
    assert "tune" not in likeness.warning("obama.jpg", entry, suggest_tune=False)
    with cli_words():  # the command's words for the same advice
        assert "try --tune, --refine 100" in likeness.warning("obama.jpg", entry)
    assert likeness.describe([{"input": "in/obama.jpg", **entry}]).endswith(
        f"identity {entry['identity']:.2f} (poor)")

    faithful = likeness.measure(obama, obama)
    assert faithful["identity"] == 0 and not faithful["poor"]
    assert likeness.describe([{"input": "obama.jpg", **faithful}]) == \
        "likeness: obama.jpg 100.0 dB SSIM 1.00 identity 0.00"


@needs_dlib
def test_a_reconstruction_without_a_face_gets_the_warning():
    obama = _crop(FACES / "obama.jpg")
    entry = likeness.measure(np.full_like(obama, 128), obama)
    assert entry["identity"] is None and entry["identity_note"] == identity.NO_FACE_IN_RENDER and entry["poor"]
    warning = likeness.warning("obama.jpg", entry)
    assert "obama.jpg" in warning and "no face in its reconstruction" in warning and "tune=True" in warning
    assert "no face in reconstruction (poor)" in likeness.describe([{"input": "obama.jpg", **entry}])


@pytest.fixture(scope="module")
def random_128_ckpt(tmp_path_factory):
    """A random-weight 128 px model (large enough for the identity measure): it renders no face at all,
    as an untrained model or a very poor inversion would."""
    import torch

    from interp_cli.models.checkpoint import save_e4e_checkpoint
    from interp_cli.models.e4e import Encoder4Editing, EncoderConfig
    from interp_cli.models.stylegan2 import Generator, GeneratorConfig

    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(size=128, style_dim=32, n_mlp=2,
                                          channels={4: 32, 8: 32, 16: 16, 32: 16, 64: 8, 128: 8})).eval()
    encoder = Encoder4Editing(EncoderConfig(stylegan_size=128, style_dim=32, widths=(16, 32, 48, 64),
                                            units=(1, 1, 1, 1), input_size=64)).eval()
    latent_avg = generator.mean_latent(256).expand(generator.n_latent, -1).clone()
    path = tmp_path_factory.mktemp("random128") / "random128.pt"
    save_e4e_checkpoint(path, generator, encoder, latent_avg, meta={"name": "random128"})
    return path


@needs_dlib
def test_real_photos_not_reconstructed_are_named_in_a_warning_that_suggests_tune(random_128_ckpt, tmp_path):
    photos = [FACES / "obama.jpg", ROOT / "examples" / "biden.jpg"]
    result = run(*photos, "--weights", random_128_ckpt, "--steps", 2, "-o", tmp_path / "m.gif")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, result.stderr
    for photo, line in zip(photos, warnings):
        assert line.startswith(f"warning: {photo}: ") and "no face in its reconstruction" in line  # as typed
        assert "try --tune" in line
    assert "obama.jpg" in result.stderr and "no face in reconstruction (poor)" in result.stderr

    as_json = run(*photos, "--weights", random_128_ckpt, "--steps", 2, "-o", tmp_path / "j.gif", "--json")
    entries = json.loads(as_json.stdout)["reconstruction"]
    assert [(e["identity"], e["identity_note"], e["poor"]) for e in entries] == \
        [(None, identity.NO_FACE_IN_RENDER, True)] * 2

    # `interp encode` has no --tune: its warning does not suggest it.
    encoded = run("encode", photos[0], "--weights", random_128_ckpt, "-o", tmp_path / "a.npy")
    assert encoded.exit_code == 0, encoded.stderr
    assert "obama.jpg" in encoded.stderr and "no face in its reconstruction" in encoded.stderr
    assert "--tune" not in encoded.stderr and "--refine 100" in encoded.stderr


@needs_dlib
def test_without_dlib_the_cli_reports_identity_null_and_warns_as_before(random_128_ckpt, tmp_path):
    import os
    import subprocess
    import sys

    # The morph twice in one process where `import dlib` fails (as without a dlib-bin wheel): with
    # --json (stdout), then without (the warnings and the summary line, on stderr; --json leaves them out).
    code = ("import sys; sys.modules['dlib'] = None\n"
            "from interp_cli.cli import main\n"
            "for extra in (['--json', '-o', sys.argv[1] + '/j.gif'], ['-o', sys.argv[1] + '/m.gif']):\n"
            "    try:\n"
            "        main(sys.argv[2:] + extra)\n"
            "    except SystemExit as done:\n"
            "        assert done.code == 0, done.code\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(FACES / "obama.jpg"),
                           str(FACES / "biden.jpg"), "--weights", str(random_128_ckpt), "--steps", "2"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "likeness: obama.jpg" in done.stderr and "(poor)" in done.stderr
    assert "identity" not in done.stderr and "no face" not in done.stderr
    for entry in json.loads(done.stdout)["reconstruction"]:
        assert entry["identity"] is None and entry["identity_note"] == identity.NO_DLIB
        assert entry["poor"] == (entry["psnr"] < likeness.POOR_PSNR_DB)
    # The random model's renders are far from the photos: the PSNR warnings, as with dlib (--tune offered).
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, done.stderr
    for photo, line in zip(("obama.jpg", "biden.jpg"), warnings):
        assert line.startswith("warning: ") and line.split(": ")[1].endswith(photo)  # the path as typed
        assert ": the code reproduces this photo poorly (" in line
        assert line.endswith("dB PSNR, below 18), so the morph may not look like this person; "
                             "try --tune, --refine 100, or a clearer frontal photo")


# --- measured on the morph's own frames ------------------------------------------------------


def _ssim_before(a: np.ndarray, b: np.ndarray) -> float:
    """The SSIM as it was computed before it moved to NumPy (torch, float64, avg_pool2d), kept as the
    reference the new one must match."""
    import torch
    import torch.nn.functional as F

    x, y = (torch.from_numpy(np.ascontiguousarray(i, dtype=np.float64) / 255.0).permute(2, 0, 1)[None] for i in (a, b))
    factor = max(1, round(min(x.shape[-2:]) / 256))
    if factor > 1:
        x, y = F.avg_pool2d(x, factor), F.avg_pool2d(y, factor)
    size = min(11, x.shape[-1], x.shape[-2])
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * 1.5 ** 2))
    g = (g / g.sum()).view(1, 1, 1, -1).expand(3, 1, 1, size)
    stats = torch.cat([x, y, x * x, y * y, x * y])
    stats = F.conv2d(F.conv2d(stats, g, groups=3), g.transpose(2, 3), groups=3)
    mx, my, xx, yy, xy = stats.chunk(5)
    vx, vy, cxy = xx - mx * mx, yy - my * my, xy - mx * my
    s = ((2 * mx * my + 1e-4) * (2 * cxy + 9e-4)) / ((mx * mx + my * my + 1e-4) * (vx + vy + 9e-4))
    return float(s.mean())


# (385, 700): the side where the downscale factor's rounding turns (385 / 256 = 1.504: averaged by 2, not 1).
@pytest.mark.parametrize("shape", [(1024, 1024, 3), (301, 517, 3), (385, 700, 3), (64, 64, 3), (9, 12, 3)])
def test_ssim_matches_the_previous_torch_computation(shape):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) // 2 + rng.integers(0, 90, shape), 0, 255).astype(np.uint8)
    assert likeness.ssim(a, b) == pytest.approx(_ssim_before(a, b), abs=1e-9)


def _morph_and_rerender(tmp_path, inputs, *, again_with=None, **options):
    """The reconstruction a morph reports, the same measured by rendering each code again (the way
    the report was made before it used the morph's frames), and the batches the morph rendered."""
    from interp_cli.pipeline import EncodeSettings, Session, morph

    session = Session("demo", "cpu", log=lambda message: None, progress=False, cache_dir=tmp_path / "cache")
    # Encoded (and refined) first, so the morph finds the codes in the cache and only renders.
    encoded = session.encode_inputs([Path(p) for p in inputs], EncodeSettings(refine=options.get("refine", 0)))
    calls = []
    session.model.generator.register_forward_hook(lambda module, args, output: calls.append(output.shape[0]))
    summary = morph(inputs, tmp_path / "m.gif", session=session, progress=False, log=lambda m: None, **options)
    morph_calls = list(calls)
    assert session.encoder_calls == len(inputs)
    again = session.likeness(inputs, np.stack([c for c, _, _ in encoded]), [t for _, _, t in encoded],
                             **(again_with or {}))
    return summary["reconstruction"], again, morph_calls, summary["frames"]


@pytest.mark.parametrize("options, count, drawn", [
    ({"steps": 3}, 5, 5),
    # Of 16 frames the way out's 7 are drawn: the holds' copies and the way back replay them.
    ({"steps": 4, "pingpong": True, "hold": 1, "ease": "cubic"}, 16, 7),
    ({"steps": 3, "loop": True, "interp": "spline", "size": 96}, 6, 6),
    ({"steps": 3, "refine": 2}, 5, 5),
])
def test_the_report_measures_the_morphs_own_frames_as_a_render_would(tmp_path, options, count, drawn):
    shifted = tmp_path / "shifted.png"
    Image.fromarray(np.roll(np.asarray(Image.open(FACE_A).convert("RGB")), 7, axis=1)).save(shifted)
    inputs = [FACE_A, FACE_B, shifted]
    reported, again, calls, frames = _morph_and_rerender(tmp_path, inputs, **options)
    for r, a in zip(reported, again):
        assert r["input"] == a["input"]
        assert abs(r["psnr"] - a["psnr"]) <= 0.1 and abs(r["ssim"] - a["ssim"]) <= 0.005, (r, a)
    # No extra render: the generator drew the morph's frames, each once, and nothing else.
    assert frames == count and sum(calls) == drawn


def test_a_layers_mask_renders_the_inputs_whose_frames_are_not_their_own_code(tmp_path):
    # Outside the mask every frame keeps the first input's rows, so the last frame is not the second
    # input's reconstruction: that one is rendered on its own, as before.
    reported, again, calls, frames = _morph_and_rerender(tmp_path, [FACE_A, FACE_B], steps=3, layers="coarse")
    assert [round(r["psnr"], 1) for r in reported] == [round(a["psnr"], 1) for a in again]
    assert calls[-1] == 1 and sum(calls) == frames + 1


def test_a_layers_morph_says_which_photos_likeness_is_measured_on_a_code_no_frame_shows(tmp_path):
    """Under --layers coarse the last frame keeps the first photo's other rows: no frame is demo_b.png's
    reconstruction, yet the likeness line named its number beside the morph's as if a frame showed it. The
    morph now says, once, whose code was drawn on its own for the report (the numbers are as before: the
    test above); a plain morph, or an input whose frame is its own code (the first; a return to it), says nothing."""
    from interp_cli.pipeline import morph

    said = {}
    for layers, inputs in (("coarse", [FACE_A, FACE_B]), ("all", [FACE_A, FACE_B]), ("fine", [FACE_A, FACE_B, FACE_A])):
        lines = []
        morph(inputs, tmp_path / f"{layers}.gif", weights="demo", steps=3, layers=layers, cache=False, log=lines.append)
        said[layers] = [line for line in lines if line.startswith("note: layers:")]
    assert said["coarse"] == said["fine"] == [
        f"note: layers: every frame keeps {FACE_A}'s rows outside the mask, so none shows the whole code of {FACE_B}; "
        "the likeness report measures that code drawn on its own"]
    assert said["all"] == []


def test_truncation_renders_the_codes_untruncated_with_the_morphs_noise(tmp_path):
    reported, again, calls, frames = _morph_and_rerender(tmp_path, [FACE_A, FACE_B], steps=3, truncation=0.5,
                                                         noise="random", seed=4,
                                                         again_with={"noise": "random", "seed": 4})
    assert reported == again
    assert sum(calls) == frames + 2


def test_with_random_noise_the_report_measures_the_morphs_own_end_frames(tmp_path):
    """Untruncated, the ends are the reconstructions whatever the noise: measured there, no render more."""
    reported, again, calls, frames = _morph_and_rerender(tmp_path, [FACE_A, FACE_B], steps=3, noise="random",
                                                         seed=3, again_with={"noise": "random", "seed": 3})
    assert reported == again
    assert sum(calls) == frames


def test_a_tuned_morph_with_random_noise_reports_its_own_ends(tmp_path, one_thread):
    """The tuned copy is fitted against the morph's random noise maps: measured with const maps, the
    ends were off by over 1 dB."""
    from interp_cli.pipeline import EncodeSettings, Session, morph
    from interp_cli.likeness import psnr

    session = Session("demo", "cpu", log=lambda message: None, progress=False, cache_dir=tmp_path / "cache")
    summary = morph([FACE_A, FACE_B], tmp_path / "m", session=session, progress=False, log=lambda m: None,
                    steps=3, noise="random", seed=2, tune=5)
    encoded = session.encode_inputs([FACE_A, FACE_B], EncodeSettings())
    codes, targets = np.stack([c for c, _, _ in encoded]), [t for _, _, t in encoded]
    tuned, info = session.tune(codes, targets, 5, noise="random", seed=2)
    assert info["cached"]
    frames = sorted((tmp_path / "m").glob("frame_*.png"))
    for i, frame in zip((0, 1), (frames[0], frames[-1])):
        own = psnr(np.asarray(Image.open(frame).convert("RGB")), targets[i])
        assert summary["reconstruction"][i]["psnr"] == round(own, 2)
        untuned = next(session.frames([codes[i]], noise="random", seed=2))
        assert summary["reconstruction"][i]["untuned_psnr"] == round(psnr(untuned, targets[i]), 2)


def _stripes(path: Path) -> Path:
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, (np.arange(64) // 4) % 2 == 1] = 255
    Image.fromarray(image).save(path)
    return path


@pytest.fixture
def one_thread():
    """Tuning's layers are small: a second thread gains little, and on a busy machine costs a lot."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_tuned_end_worse_than_untuned_is_named_with_both_numbers_and_advice_that_works(tmp_path, monkeypatch,
                                                                                           one_thread):
    """demo_a beside an image the model cannot draw: ten steps of tuning pull the shared weights toward
    the stripes and demo_a's end gets worse (measured 27.5 -> 20.9 dB). The advice: --tune 200, which
    fits both (28.9 dB), or no --tune."""
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    stripes = _stripes(tmp_path / "stripes.png")
    morph = [FACE_A, stripes, "--weights", "demo", "--steps", 2]
    result = run(*morph, "--tune", 10, "-o", tmp_path / "a.gif", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    a = summary["reconstruction"][0]
    assert a["psnr"] < a["untuned_psnr"] - likeness.TUNE_LOSS_DB and not a["poor"]
    worse = [w for w in summary["warnings"] if w.startswith(f"{FACE_A}: --tune made this end")]
    assert len(worse) == 1, summary["warnings"]
    assert f"{a['untuned_psnr']:.1f} dB PSNR untuned, {a['psnr']:.1f} dB tuned" in worse[0]
    assert "stripes.png" in worse[0] and "--tune 200" in worse[0] and "without --tune" in worse[0]
    assert summary["reconstruction"][1]["poor"]  # the stripes: judged before tuning
    text = run(*morph, "--tune", 10, "-o", tmp_path / "b.gif")  # the same, once, on stderr in text mode
    assert text.stderr.count("--tune made this end") == 1
    assert "(27.5 dB untuned)" in text.stderr  # the summary line shows the gain (or loss)
    # the advice works: without --tune the end is its untuned self (--tune 200, measured: 28.9 dB, too slow here)
    plain = json.loads(run(*morph, "-o", tmp_path / "d.gif", "--json").stdout)
    untuned = plain["reconstruction"][0]
    assert untuned["psnr"] == a["untuned_psnr"] and untuned["untuned_psnr"] is None


def test_after_tune_a_photo_the_model_cannot_draw_is_still_poor(tmp_path, monkeypatch, one_thread):
    """Real photos through the demo model: 15.1 and 15.5 dB untuned; 25 steps of tuning lift the ends
    above the 18 dB line, but the model still cannot draw these faces (the frames between are blurs)."""
    pytest.importorskip("dlib")
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    faces = ROOT / "tests" / "data" / "faces"
    result = run(faces / "obama.jpg", faces / "biden.jpg", "--weights", "demo", "--align", "--steps", 2,
                 "--tune", 25, "-o", tmp_path / "t.gif", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    entries = summary["reconstruction"]
    assert all(e["psnr"] >= likeness.POOR_PSNR_DB > e["untuned_psnr"] for e in entries), entries
    assert all(e["poor"] for e in entries)
    assert len(summary["warnings"]) == 2
    for entry, warning in zip(entries, summary["warnings"]):
        name = entry["input"]  # the path as typed
        assert warning.startswith(f"{name}: the model cannot draw this photo ({entry['untuned_psnr']:.1f} dB PSNR "
                                  f"before --tune"), warning
        assert f"{entry['psnr']:.1f} dB after" in warning and "--weights ffhq" in warning


def test_a_python_callers_crop_of_another_kind_is_refused_by_its_place(tmp_path):
    """`Session.likeness` took a float crop in [0, 1] (a common way to hold a photo) as a black photo: 5 dB, and
    a warning that the model "cannot draw this image". A grey, short or str crop failed in numpy with "images
    differ in shape", naming no argument. Each is now one UsageError naming `targets[i]` and the crop it wants."""
    from interp_cli.errors import UsageError
    from interp_cli.pipeline import Session

    session = Session("demo", "cpu", log=lambda message: None, progress=False, cache_dir=tmp_path / "cache")
    [(code, _, crop)] = session.encode_inputs([FACE_A])
    size = session.model.size
    for bad, shown in [(crop / np.float32(255), f"float32 [{size}, {size}, 3]"),
                       (crop[..., 0], f"uint8 [{size}, {size}]"),
                       (crop[: size // 2], f"uint8 [{size // 2}, {size}, 3]"), ("demo_a.png", "str")]:
        with pytest.raises(UsageError) as err:
            session.likeness(["demo_a.png", "code.npy"], np.stack([code, code]), [None, bad])
        assert str(err.value) == (f"targets[1]: got {shown}; give the photo's crop as uint8 [{size}, {size}, 3] RGB "
                                  "(encode_inputs' third item), or None for a .npy code's")
    # The crop as encode_inputs gives it is measured as before: a close reconstruction, not a black photo.
    [entry] = session.likeness(["demo_a.png"], code[None], [crop])
    assert entry["psnr"] > 20 and not entry["poor"]
