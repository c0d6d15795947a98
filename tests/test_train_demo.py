"""The demo model's training script: periodic checkpoints, resuming a killed run, the discriminator.

All on the 32x32 toy configuration (`--tiny`), a few seconds each on a CPU.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from interp_cli.models.checkpoint import load_model
from weights import eval_demo, train_demo

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--tiny", "--serial", "--batch-g", "4", "--batch-e", "4", "--batch-b", "4", "--n-train", "16",
        "--n-eval", "4", "--pairs", "2", "--cache-dir", "", "--log-every", "1e9", "--workers", "1"]


def _main_in_process(capsys, argv: list[str]) -> tuple[object, str]:
    """`python -m weights.train_demo ARGV` run in this process: its exit code and what it printed on stderr.
    Any other exception propagates (a child would have printed its traceback)."""
    capsys.readouterr()
    try:
        code = train_demo.main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def test_patch_discriminator_judges_patches_and_learns():
    torch.manual_seed(0)
    disc = train_demo.PatchDiscriminator()
    assert disc(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 8, 8)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.0, 0.99))
    # sharp squares are "real", the same squares blurred are "fake": a few steps must separate them
    real = -torch.ones(4, 3, 32, 32)
    real[:, :, 8:24:4, 8:24:4] = 1
    fake = torch.nn.functional.avg_pool2d(real, 5, stride=1, padding=2)
    with torch.no_grad():
        margin_before = float(disc(real).mean() - disc(fake).mean())
    for step in range(40):
        train_demo.discriminator_step(disc, opt, real, fake, r1_gamma=0.2, with_r1=step % 4 == 0)
    with torch.no_grad():
        margin = float(disc(real).mean() - disc(fake).mean())
    assert abs(margin_before) < 0.1 and margin > 0.5, (margin_before, margin)


def test_discriminator_learns_to_spot_blur_at_64px_with_r1_on():
    """At the demo's size the patch discriminator gives 64 logits per face. R1 must penalise the
    gradient of each face's mean logit, as the loss averages them: penalising their sum made the
    penalty 64^2 times stronger and held the discriminator at chance (loss ln 4) for whole runs.

    Learned means: every face it never saw scores at least 1 logit above its own blurred copy (odds
    e times higher), checked every 40 steps. Not a fixed step count with logit 0 as the line: when
    learning sets in depends on the run's float rounding (torch 2.1.0 and 2.13.0 agree bit for bit for
    the first steps, then part at 1e-7), between under 160 and about 400 steps over the seeds tried,
    and the offset of all logits swings by up to +-1.8 between checks (Adam with beta1 0), so accuracy
    against 0 after 160 steps ranged over 0.5-0.94 on either torch. With the summed penalty no face's
    gap passed 0.01 in 800 steps (benchmarks/README.md, "Dependency floors")."""
    from weights.demo_faces import make_dataset

    torch.manual_seed(0)
    real = train_demo.to_float(torch.from_numpy(make_dataset(24, seed=1)))
    fake = torch.nn.functional.avg_pool2d(real, 3, stride=1, padding=1, count_include_pad=False)
    disc = train_demo.PatchDiscriminator()
    opt = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.0, 0.99))
    gen = torch.Generator().manual_seed(0)
    gaps = []
    for step in range(1, 801):
        idx = torch.randint(16, (8,), generator=gen)
        train_demo.discriminator_step(disc, opt, real[idx], fake[idx], r1_gamma=0.2, with_r1=step % 4 == 1)
        if step % 40 == 0:
            with torch.no_grad():  # faces it never saw, each judged by its mean patch logit
                gap = disc(real[16:]).mean((1, 2, 3)) - disc(fake[16:]).mean((1, 2, 3))
            gaps.append((step, round(float(gap.min()), 3)))
            if gap.min() >= 1:
                break
    assert gaps[-1][1] >= 1, f"smallest gap at each check (step, logits): {gaps}"


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    """A run killed with SIGKILL mid-way continues with --resume and ends with all its planned steps."""
    out = tmp_path / "toy.pt"
    state = train_demo.state_path(out)
    steps, stage_b = 30, 30 - round(30 * train_demo.STAGE_A)
    # Its temp folder in tmp_path: the kill leaves the run's work dir (the faces it trains on) there, not in /tmp.
    (tmp_path / "tmp").mkdir()
    child = subprocess.Popen(
        [sys.executable, "-m", "weights.train_demo", *TINY, "--steps", str(steps), "--save-every", "1e-5",
         "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path / "tmp")})
    try:
        deadline = time.time() + 300
        saved_step = -1
        while time.time() < deadline and child.poll() is None:
            if state.exists():
                saved = torch.load(state, weights_only=True)
                if saved["step"] >= 3:  # a few end-to-end steps done and saved
                    saved_step = saved["step"]
                    break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, child.stderr.read()
    # whatever the kill interrupted, both files on disk are whole: the checkpoint loads, the state reads
    saved = torch.load(state, weights_only=True)
    assert saved_step <= saved["step"] < stage_b
    assert load_model(out).meta["train"]["steps"]["end_to_end"] >= saved_step
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(leftovers) <= 1, leftovers  # at most the one temp file the kill interrupted

    meta = train_demo.train(train_demo.parse_args([*TINY, "--steps", str(steps), "--save-every", "0",
                                                   "--out", str(out), "--resume", str(state)]))
    assert meta["train"]["steps"]["end_to_end"] == stage_b
    assert meta["train"]["steps"]["generator"] == round(steps * train_demo.STAGE_A)
    assert meta["train"]["adversarial"]["weight"] > 0
    assert load_model(out).meta["train"]["steps"]["end_to_end"] == stage_b
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # the dead run's temp is swept


def test_snapshots_log_goal_metrics(tmp_path):
    out, snaps = tmp_path / "toy.pt", tmp_path / "snaps"
    # 4 steps: 2 of stage A, then 2 end-to-end, each saved: rows for minute 0 and both saves, where the test asks
    # for minute 0 and at least one more (it trained 10, for nothing it checks)
    train_demo.train(train_demo.parse_args([*TINY, "--steps", "4", "--save-every", "1e-9", "--out", str(out),
                                            "--snapshots", str(snaps)]))
    rows = (snaps / "quick.csv").read_text().splitlines()
    assert rows[0] == "minutes,step,file,n_images,recon_psnr,recon_sharpness,midpoint_sharpness"
    assert len(rows) >= 3  # minute 0 and at least one save per step after it
    first = rows[1].split(",")
    assert first[1] == "0" and (snaps / first[2]).exists()
    assert load_model(snaps / first[2]).size == 32
    # the logged curve, plotted without measuring again
    assert eval_demo.main(["--curve", str(snaps), "--from-log"]) == 0
    with Image.open(snaps / "quick.png") as plot:
        assert plot.size == (640, 360) and len(plot.getcolors(1 << 16)) > 3  # axes, text and three series
    # the curve through the CLI path, on two of the snapshots
    for name in sorted(p.name for p in snaps.glob("*.pt"))[2:]:
        (snaps / name).unlink()
    rows = eval_demo.curve(snaps, n=3)
    assert [r["minutes"] for r in rows] == sorted(r["minutes"] for r in rows) and len(rows) == 2
    assert all(r["n_images"] == 3 and r["recon_psnr"] > 5 for r in rows)
    assert (snaps / "curve.csv").read_text().startswith("minutes,file,n_images,recon_psnr,")
    with Image.open(snaps / "curve.png") as plot:
        assert plot.size == (640, 360)


def test_channels_choose_the_generator_and_its_size(tmp_path, capsys):
    """`--channels` is how a GPU run tries a wider or a 128 px model: the checkpoint comes back with
    those widths, that size, and an encoder that reads faces of that size."""
    out = tmp_path / "wide.pt"
    train_demo.train(train_demo.parse_args(
        [*TINY, "--steps", "2", "--channels", "4:16,8:16,16:8,32:8,64:8", "--out", str(out)]))
    model = load_model(out)
    assert (model.size, model.encoder_input_size, model.n_latent) == (64, 64, 10)
    assert model.meta["generator"]["channels"] == {"4": 16, "8": 16, "16": 8, "32": 8, "64": 8}
    # One refusal as a user meets it, in a fresh `python -m` process; the others through main() in this one
    # (a traceback there fails the test as it would have failed a child's run).
    done = subprocess.run([sys.executable, "-m", "weights.train_demo", "--channels", "4:16,16:8", "--steps", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("train_demo: error: --channels"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for bad in ("4:16,8:x", "4:16,8:0"):
        code, stderr = _main_in_process(capsys, ["--channels", bad, "--steps", "1"])
        assert code == 2 and stderr.startswith("train_demo: error: --channels"), (bad, stderr)
        assert len(stderr.strip().splitlines()) == 1, stderr


def test_feature_weight_weighs_the_features_and_nothing_else(tmp_path):
    torch.manual_seed(0)
    target, output = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    plain = train_demo.image_loss(output, target, 1.0)
    even = train_demo.image_loss(output, target, 1.0, torch.full((2, 1, 32, 32), 7.0))
    assert torch.allclose(plain, even)  # equal weights: the plain loss
    masks = torch.zeros(2, 32, 32, dtype=torch.bool)
    masks[:, 8:16, 8:16] = True
    weight = train_demo.pixel_weights(masks, torch.tensor([0, 1]), 9.0)
    assert weight.shape == (2, 1, 32, 32) and float(weight.max()) == 10.0 and float(weight.min()) == 1.0
    wrong_inside, wrong_outside = target.clone(), target.clone()
    wrong_inside[:, :, 8:16, 8:16] += 0.5
    wrong_outside[:, :, 20:28, 20:28] += 0.5
    # the same error costs more on a feature than elsewhere
    assert train_demo.image_loss(wrong_inside, target, 1.0, weight) > 3 * train_demo.image_loss(
        wrong_outside, target, 1.0, weight)
    # and a run with it records the weight (the masks are drawn for the training faces)
    out = tmp_path / "toy.pt"
    meta = train_demo.train(train_demo.parse_args([*TINY, "--steps", "2", "--feature-weight", "9", "--out", str(out)]))
    assert meta["train"]["feature_weight"] == 9.0 and load_model(out).size == 32


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny 4-step run without the discriminator, which the tests of continued runs (`--init`) only read."""
    base = tmp_path_factory.mktemp("base") / "base.pt"
    train_demo.train(train_demo.parse_args([*TINY, "--steps", "4", "--adv-weight", "0", "--out", str(base)]))
    return base


def test_lr_warmup_eases_a_continued_run_in(tmp_path, base):
    """Adam's first step on fresh moments moves every weight by about the full learning rate, whatever
    the gradient; `--lr-warmup` scales that first step down, and the checkpoint records it."""
    start = load_model(base).generator.state_dict()
    moved, metas = {}, {}
    for warmup in (0, 100):
        out = tmp_path / f"warmup{warmup}.pt"
        metas[warmup] = train_demo.train(train_demo.parse_args(
            [*TINY, "--steps", "1", "--adv-weight", "0", "--init", str(base), "--save-every", "1e-9",
             "--lr-warmup", str(warmup), "--out", str(out)]))
        state = torch.load(train_demo.state_path(out), weights_only=True)
        assert state["step"] == 1
        moved[warmup] = max(float((state["generator"][k].float() - v).abs().max()) for k, v in start.items())
    assert moved[0] > 0 and moved[100] < moved[0] / 20, moved
    assert metas[100]["train"]["lr_warmup"] == 100 and metas[0]["train"]["lr_warmup"] == 0
    assert train_demo.cosine_lr(0.0, 0.5, 0.0, step=99, warmup=100) == 0.5  # full rate once ramped


def test_freeze_generator_trains_the_encoder_alone(tmp_path, base):
    """`--freeze-generator`: a continued run changes the encoder and leaves every generator weight as it
    was (also with the discriminator on), and the checkpoint records it."""
    start = load_model(base)
    for adversarial in ("0", "0.05"):
        out = tmp_path / f"frozen{adversarial}.pt"
        meta = train_demo.train(train_demo.parse_args(
            [*TINY, "--steps", "2", "--adv-weight", adversarial, "--init", str(base), "--freeze-generator",
             "--save-every", "1e-9", "--out", str(out)]))
        state = torch.load(train_demo.state_path(out), weights_only=True)
        assert state["step"] == 2
        for k, v in start.generator.state_dict().items():
            assert torch.equal(state["generator"][k].to(v.dtype), v), k
        assert any(not torch.equal(state["encoder"][k].to(v.dtype), v)
                   for k, v in start.encoder.state_dict().items() if v.is_floating_point())
        assert meta["train"]["freeze_generator"] is True


def test_encoder_units_grow_a_continued_encoder_without_changing_its_codes(tmp_path, base, capsys):
    """`--init X --encoder-units`: the grown encoder starts with exactly X's codes (its added units are
    the identity), the added units then learn, the checkpoint loads with the new depth and can be
    continued again without repeating the option; a shrink or a malformed count is refused with one
    line on stderr and exit 2."""
    old = load_model(base).encoder
    grown = train_demo.grow_encoder(old.state_dict(), old.config,
                                    train_demo.EncoderConfig(**{**vars(old.config), "units": (2, 1, 3, 1)}))
    faces = torch.rand(3, 3, 32, 32) * 2 - 1
    for mode in (False, True):  # running statistics and batch statistics alike
        old.train(mode), grown.train(mode)
        with torch.no_grad():
            assert torch.allclose(grown(faces), old(faces), atol=1e-6)

    out = tmp_path / "grown.pt"
    train_demo.train(train_demo.parse_args(
        [*TINY, "--steps", "2", "--adv-weight", "0", "--init", str(base), "--encoder-units", "2,1,3,1",
         "--freeze-generator", "--save-every", "1e-9", "--out", str(out)]))
    model = load_model(out)
    assert model.encoder.config.units == (2, 1, 3, 1)
    assert model.meta["encoder"]["units"] == [2, 1, 3, 1]
    added_scale = torch.load(train_demo.state_path(out), weights_only=True)["encoder"]["body.1.res_layer.4.weight"]
    assert float(added_scale.abs().max()) > 0  # it started at 0: the added unit learns
    again = tmp_path / "again.pt"
    train_demo.train(train_demo.parse_args([*TINY, "--steps", "1", "--adv-weight", "0", "--init", str(out),
                                            "--freeze-generator", "--out", str(again)]))
    assert load_model(again).encoder.config.units == (2, 1, 3, 1)

    with pytest.raises(ValueError, match="can only grow"):
        train_demo.grow_encoder(grown.state_dict(), grown.config, old.config)
    # The refusals through main() in this process (test_channels_choose_the_generator_and_its_size runs one
    # in a fresh `python -m` process): the same exit code and stderr a child would give.
    code, stderr = _main_in_process(capsys, [*TINY, "--steps", "1", "--init", str(out), "--encoder-units", "1,1,1,1",
                                             "--out", str(tmp_path / "shrunk.pt")])
    assert code == 2 and stderr.startswith("train_demo: error: --encoder-units"), stderr
    assert "can only grow" in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / "shrunk.pt").exists()
    for bad in ("2,2,2", "2,x,2,2", "0,1,1,1"):
        code, stderr = _main_in_process(capsys, ["--encoder-units", bad, "--steps", "1"])
        assert code == 2 and stderr.startswith("train_demo: error: --encoder-units"), (bad, stderr)
        assert len(stderr.strip().splitlines()) == 1, stderr
