"""The shipped demo model (`interp_cli/data/demo.pt`) and its data generator (`weights/demo_faces.py`).

Everything goes through `load_model` and the CLI's Pillow preprocessing, so what is tested is the
committed file as interp uses it. Fast (a few seconds on a CPU); the full metrics are
`python -m weights.eval_demo`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from interp_cli.models.checkpoint import load_model
from weights import demo_faces
from weights.eval_demo import (DEFAULT_WEIGHTS, cli_metrics, code_ceilings, encode, feature_masks, heldout_references,
                               issue_metrics, psnr, quick_issue_metrics, render, sha256_of, sharpness, to_tensor,
                               true_midpoints)

ROOT = Path(__file__).resolve().parents[1]
# Measured with weights/eval_demo.py on the committed checkpoint: 200 held-out faces, mean PSNR 27.2 dB
# (28.1 dB on the 8 faces here), sharpness ratio 0.87. The floor leaves ~2 dB for other CPUs / torch versions.
PSNR_FLOOR = 25.0
SHARPNESS_FLOOR = 0.8     # the midpoint keeps >= 80% of the endpoints' mean gradient magnitude
MIDPOINT_MIN_DIFF = 0.02  # mean |midpoint - closer endpoint| in [0, 1] units: the morph really moves
# Issue 19's goal metrics through `interp encode` + `interp render` (weights/eval_demo.py `cli_metrics`),
# measured on the 4 held-out faces here: reconstruction sharpness 0.78 and midpoint sharpness 0.64 of
# the inputs' (goals 0.85; 0.75 and 0.64 on 48 faces). The floors leave about 0.1.
RECON_SHARPNESS_FLOOR = 0.68
MIDPOINT_SHARPNESS_FLOOR = 0.53
# PSNR of the midpoint against the true in-between (`true_midpoints`): 28.5 dB on the 4 faces here.
MIDPOINT_PSNR_FLOOR = 26.0
# The eyes, brows, nose, mouth and glasses alone (`feature_masks`): 23.2 dB and 0.38 of the inputs'
# gradient on the 4 faces here (21.4 dB and 0.41 on 48). This is the demo model's real weakness (issue 19).
FEATURE_PSNR_FLOOR = 21.0
FEATURE_SHARPNESS_FLOOR = 0.28
PAIRS = [(0, 1), (2, 3), (4, 5), (6, 7)]


@pytest.fixture(scope="module")
def demo_model():
    torch.manual_seed(0)
    return load_model(DEFAULT_WEIGHTS)


@pytest.fixture(scope="module")
def heldout():
    """8 held-out faces (data-set seed 1: never seen in training), uint8 `[8, 64, 64, 3]`."""
    return demo_faces.make_dataset(8, demo_faces.HELDOUT_SEED)


@pytest.fixture(scope="module")
def codes_and_frames(demo_model, heldout):
    codes = encode(demo_model, heldout)
    return codes, render(demo_model, codes)


def test_checkpoint_matches_its_digest_file():
    info = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert info["size"] == DEFAULT_WEIGHTS.stat().st_size
    assert info["sha256"] == sha256_of(DEFAULT_WEIGHTS)
    assert DEFAULT_WEIGHTS.stat().st_size < 16 * 1024 * 1024


def test_checkpoint_describes_itself(demo_model):
    meta = demo_model.meta
    assert meta["name"] == "demo"
    assert demo_model.size == meta["generator"]["size"] == 64
    assert demo_model.style_dim == meta["generator"]["style_dim"]
    assert demo_model.encoder_input_size == meta["encoder"]["input_size"]
    assert meta["train"]["psnr"] >= PSNR_FLOOR
    assert meta["train"]["sharpness_ratio"] >= SHARPNESS_FLOOR
    assert demo_model.latent_avg.shape == (demo_model.n_latent, demo_model.style_dim)


def test_reconstructs_heldout_faces(heldout, codes_and_frames):
    _, frames = codes_and_frames
    target = torch.from_numpy(heldout).permute(0, 3, 1, 2).float().div(255)
    values = psnr(frames, target)
    assert float(values.mean()) >= PSNR_FLOOR, values
    assert float(values.min()) >= PSNR_FLOOR - 4, values


def test_codes_stay_close_to_one_w(demo_model, codes_and_frames):
    """e4e's design: W+ rows are w0 plus small deltas, which keeps blends on the face manifold."""
    codes, _ = codes_and_frames
    deltas = (codes[:, 1:] - codes[:, :1]).norm(dim=-1)
    spread = (codes[:, 0] - codes[:, 0].mean(0)).norm(dim=-1)
    assert float(deltas.mean()) < float(spread.mean())


def test_morph_midpoint_is_a_new_sharp_face(demo_model, codes_and_frames):
    codes, frames = codes_and_frames
    a, b = (torch.tensor([p[i] for p in PAIRS]) for i in (0, 1))
    mid = render(demo_model, torch.lerp(codes[a], codes[b], 0.5))
    diff = torch.minimum((mid - frames[a]).abs().flatten(1).mean(1), (mid - frames[b]).abs().flatten(1).mean(1))
    assert bool((diff > MIDPOINT_MIN_DIFF).all()), diff
    ratio = sharpness(mid) / ((sharpness(frames[a]) + sharpness(frames[b])) / 2)
    assert float(ratio.mean()) >= SHARPNESS_FLOOR, ratio
    # Not a cross-fade: the midpoint is not the pixel average of the two ends. (Colours of a true
    # morph do blend, so part of the frame is close to that average; measured on these pairs: 0.16.)
    crossfade = (frames[a] + frames[b]) / 2
    assert float((mid - crossfade).abs().mean()) > 0.08 * float((frames[a] - frames[b]).abs().mean())


def test_goal_metrics_through_the_cli(demo_model, heldout, tmp_path):
    """What a user sees with `interp encode` then `interp render`: sharp enough reconstructions and
    midpoints, and the same numbers as the in-process measurement up to the PNG round trip."""
    faces = heldout[:4]
    measured = cli_metrics(DEFAULT_WEIGHTS, faces, work_dir=tmp_path, **heldout_references(4, 64))
    assert sorted(p.name for p in tmp_path.glob("recon*.png")) == [f"recon{i}.png" for i in range(4)]
    assert measured["recon_psnr"] >= PSNR_FLOOR, measured
    assert measured["recon_sharpness"] >= RECON_SHARPNESS_FLOOR, measured
    assert measured["midpoint_sharpness"] >= MIDPOINT_SHARPNESS_FLOOR, measured
    assert measured["midpoint_psnr"] >= MIDPOINT_PSNR_FLOOR, measured  # the in-between is the blended face
    assert measured["feature_psnr"] >= FEATURE_PSNR_FLOOR, measured
    assert measured["feature_sharpness"] >= FEATURE_SHARPNESS_FLOOR, measured
    direct = quick_issue_metrics(demo_model, faces)
    assert abs(measured["recon_psnr"] - direct["recon_psnr"]) < 0.3, (measured, direct)
    for key in ("recon_sharpness", "midpoint_sharpness"):
        assert abs(measured[key] - direct[key]) < 0.03, (measured, direct)


def test_true_midpoints_are_the_blended_faces_a_perfect_model_would_draw(heldout):
    """The ceiling `eval_demo` reports next to the midpoint goal: the exact in-betweens of pairs
    (i, i+1), drawn by the renderer. A perfect model scores 1 against them, and its midpoint
    sharpness equals theirs."""
    truth = true_midpoints(4, 64)
    assert truth.shape == (4, 64, 64, 3) and truth.dtype == np.uint8
    for i in range(4):
        blended = demo_faces.blend(demo_faces.face_params(demo_faces.HELDOUT_SEED, i),
                                   demo_faces.face_params(demo_faces.HELDOUT_SEED, (i + 1) % 4), 0.5)
        assert np.array_equal(truth[i], np.asarray(demo_faces.render_face(blended)))
        for end in (heldout[i], heldout[(i + 1) % 4]):
            assert np.abs(truth[i].astype(int) - end).mean() > 3  # a new face, not one of the ends
    target = to_tensor(heldout[:4])
    perfect = issue_metrics(target, target, to_tensor(truth), to_tensor(truth))
    assert perfect["recon_sharpness"] == 1.0
    assert perfect["midpoint_sharpness"] == perfect["midpoint_sharpness_truth"]
    assert perfect["midpoint_sharpness_vs_truth"] == 1.0
    assert perfect["midpoint_psnr"] >= 90
    # a pixel cross-fade of the two ends is not the true in-between
    crossfade = (target + torch.roll(target, -1, dims=0)) / 2
    assert issue_metrics(target, target, crossfade, to_tensor(truth))["midpoint_psnr"] < 30


def test_feature_mask_covers_exactly_what_the_features_change():
    for index in range(6):
        params = demo_faces.face_params(demo_faces.HELDOUT_SEED, index)
        drawn = np.asarray(demo_faces.render_face(params), np.int16)
        bare = np.asarray(demo_faces.render_face(params, features=False), np.int16)
        mask = demo_faces.feature_mask(params)
        assert mask.shape == (64, 64) and 0.03 < mask.mean() < 0.2, mask.mean()
        assert np.abs(drawn - bare)[~mask].max() <= 8  # outside the mask the features change nothing visible
        canvas = demo_faces.Canvas(params, 64)
        for side in (-1, 1):  # each eye's centre is in it
            (x, y), = canvas.px([(side * params.eye_dx * params.face_w, params.eye_y * params.face_h)])
            assert mask[int(y), int(x)], (index, side)


def test_feature_metrics_see_missing_eyes_that_whole_image_sharpness_misses(heldout):
    """A reconstruction exact everywhere but without eyes, brows, nose, mouth and glasses keeps most
    of the whole-image sharpness of issue 19's goal (an adversarial model made up the rest with
    outline halos: 0.89 with features at 0.20); the feature metrics see the loss at once."""
    target = to_tensor(heldout[:6])
    bare = to_tensor(np.stack([np.asarray(demo_faces.render_face(
        demo_faces.face_params(demo_faces.HELDOUT_SEED, i), features=False)) for i in range(6)]))
    masks = feature_masks(6, 64)
    faceless = issue_metrics(target, bare, target, masks=masks)
    assert faceless["recon_sharpness"] > 0.65, faceless
    assert faceless["feature_sharpness"] < 0.5 and faceless["feature_psnr"] < 20, faceless
    perfect = issue_metrics(target, target, target, masks=masks)
    assert perfect["feature_sharpness"] == 1.0 and perfect["feature_psnr"] >= 90


def test_code_ceilings_separate_the_encoders_share_from_the_generators(demo_model):
    """`eval_demo --ceilings`: the faces' true codes render as the faces (the generator learnt them),
    and refining the encoder's codes brings the faces closer to their inputs than the encoder's own.
    Ten steps show it (+1.1 dB on torch 2.13, where 0.5 is asked; five give +0.8): the refining is most of
    this test's time, and twenty added nothing it checks."""
    ceilings = code_ceilings(demo_model, 4, refine_steps=10)
    encoder, true, refined = ceilings["encoder"], ceilings["true"], ceilings["refined"]
    plain = quick_issue_metrics(demo_model, demo_faces.make_dataset(4, demo_faces.HELDOUT_SEED))
    assert {k: encoder[k] for k in plain} == plain  # the encoder's row is the plain encode -> render
    assert true["recon_psnr"] > PSNR_FLOOR, true
    assert refined["recon_psnr"] > encoder["recon_psnr"] + 0.5, ceilings
    assert ceilings["refine_steps"] == 10


def test_sampled_faces_are_well_behaved(demo_model):
    """z -> mapping -> W samples render finite, in-range, varied images (the mapping net was trained too)."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(8, demo_model.style_dim, generator=gen)
    with torch.no_grad():
        images = demo_model.generator(z, input_is_latent=False, truncation=0.7,
                                      truncation_latent=demo_model.average_w())
    assert torch.isfinite(images).all()
    assert float(images.abs().gt(1.2).float().mean()) < 0.01
    assert float(images.std(dim=0).mean()) > 0.05


def test_example_images_are_heldout_demo_faces():
    for name, index in (("demo_a.png", 6), ("demo_b.png", 4)):
        stored = np.asarray(Image.open(ROOT / "examples" / name).convert("RGB"))
        drawn = np.asarray(demo_faces.render_face(demo_faces.face_params(demo_faces.HELDOUT_SEED, index)))
        assert stored.shape == drawn.shape == (64, 64, 3)
        # Bit-equal with Pillow >= 11.2; older Pillow rounds a few anti-aliased edge pixels differently
        # (measured: at most 5 levels, on under 0.4% of the values). Another face differs almost everywhere.
        diff = np.abs(stored.astype(int) - drawn.astype(int))
        assert diff.max() <= 8 and (diff > 0).mean() < 0.01, (name, diff.max(), (diff > 0).mean())


def test_make_dataset_is_deterministic_per_seed():
    first = demo_faces.make_dataset(6, seed=0)
    assert first.shape == (6, 64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, demo_faces.make_dataset(6, seed=0))
    # face i does not depend on how many faces are made
    assert np.array_equal(first[:3], demo_faces.make_dataset(3, seed=0))
    other = demo_faces.make_dataset(6, seed=1)
    assert not np.array_equal(first, other)
    assert all(not np.array_equal(first[i], other[i]) for i in range(6))
    # and the faces of one set differ from each other
    assert len({face.tobytes() for face in first}) == 6


def test_param_vectors_are_linear_in_blends():
    """The demo model's codes are linear in these vectors, so a blend of two faces (what a morph
    passes through) has exactly the blended vector, and is drawn as a face."""
    a, b = demo_faces.face_params(0, 1), demo_faces.face_params(0, 2)
    va, vb = demo_faces.param_vector(a), demo_faces.param_vector(b)
    assert va.shape == (demo_faces.PARAM_DIM,)
    mid = demo_faces.blend(a, b, 0.25)
    np.testing.assert_allclose(demo_faces.param_vector(mid), va + 0.25 * (vb - va), atol=1e-5)
    vectors = demo_faces.make_param_vectors(500, 0)
    assert vectors.min() >= -1.1 and vectors.max() <= 1.1
    image = np.asarray(demo_faces.render_face(mid))
    assert image.shape == (64, 64, 3) and image.std() > 10


def test_make_dataset_cache_round_trip(tmp_path):
    made = demo_faces.make_dataset(4, seed=3, size=32, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    assert np.array_equal(made, demo_faces.make_dataset(4, seed=3, size=32, cache_dir=tmp_path))


def test_train_script_runs_end_to_end(tmp_path):
    """A few steps of the toy (--tiny, 32x32) configuration: data, both stages, save, load, metrics."""
    from weights import train_demo

    out = tmp_path / "toy.pt"
    threads = torch.get_num_threads()
    meta = train_demo.train(train_demo.parse_args([
        "--tiny", "--serial", "--steps", "4", "--batch-g", "4", "--batch-e", "4", "--batch-b", "4",
        "--n-train", "16", "--n-eval", "6", "--pairs", "2", "--cache-dir", "", "--out", str(out),
        "--log-every", "1e9"]))
    assert torch.get_num_threads() == threads  # the caller's thread count given back (it was left at 1)
    stage_a = round(4 * train_demo.STAGE_A)
    assert meta["train"]["steps"] == {"generator": stage_a, "encoder": stage_a, "end_to_end": 4 - stage_a}
    model = load_model(out)
    assert model.size == 32 and model.meta["name"] == "demo"
    info = json.loads(out.with_suffix(".json").read_text())
    assert info == {"sha256": sha256_of(out), "size": out.stat().st_size}
