"""The networks and the checkpoint loader against the reference e4e + StyleGAN2 outputs.

The golden numbers were computed by the original e4e and rosinality code on deterministic
recipe weights (tests/recipe.py); matching them within 1e-4 is how we know the published
checkpoint will behave the same here without downloading it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from interp_cli.errors import CheckpointError
from interp_cli.models.checkpoint import (
    all_finite,
    build_state_dict_shapes,
    infer_encoder_config,
    infer_generator_config,
    load_model,
)
from interp_cli.models.e4e import EncoderConfig, preprocess
from interp_cli.models.stylegan2 import Generator, GeneratorConfig, fresh_normal, make_fir_kernel
from tests.recipe import GOLDEN_DIR, read_manifest, recipe_tensor, tensor_sha16

TOL = 1e-4


def max_abs(a, b) -> float:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


def test_recipe_weights_match_the_manifest_hashes():
    rows = read_manifest("e4e64_recipe_keys.tsv")
    whole = hashlib.sha256()
    mismatched = []
    for row in rows:
        t = recipe_tensor(row["key"], row["shape"])
        assert tuple(t.shape) == row["shape"], row["key"]
        assert str(t.dtype) == "torch." + row["dtype"], row["key"]
        if tensor_sha16(t) != row["sha256_16"]:
            mismatched.append(row["key"])
        whole.update(t.contiguous().numpy().tobytes())
    assert not mismatched, f"recipe tensors differ: {mismatched[:5]}"
    assert whole.hexdigest() == "3ed43ceb8c57bf77e6a03e47554c5754dca8f027841dc4c3121c50feaa3943af"


@pytest.mark.parametrize("name", ["A", "B"])
def test_preprocess_matches_e4e_transform(golden, name):
    x = preprocess(Image.open(GOLDEN_DIR / f"golden_input_{name}.png"))
    assert x.shape == (1, 3, 256, 256)
    assert max_abs(x, golden[f"x_{name}"]) <= TOL


@pytest.mark.parametrize("name", ["A", "B"])
def test_encoder_and_generator_match_reference(golden_model, golden, name):
    x = torch.from_numpy(golden[f"x_{name}"])
    with torch.no_grad():
        enc = golden_model.encoder(x)
        w = golden_model.encode(x)
        img = golden_model.generator(w)
    assert max_abs(enc, golden[f"enc_{name}"]) <= TOL
    assert max_abs(w, golden[f"w_{name}"]) <= TOL
    assert max_abs(img, golden[f"img_{name}"]) <= TOL


def test_latent_avg_is_loaded(golden_model, golden):
    assert max_abs(golden_model.latent_avg, golden["latent_avg"]) == 0.0


def test_blend_batch_and_mapping_match_reference(golden_model, golden):
    gen = golden_model.generator
    w_a, w_b = torch.from_numpy(golden["w_A"]), torch.from_numpy(golden["w_B"])
    w_mix = (1 - 0.5) * w_a + 0.5 * w_b
    with torch.no_grad():
        assert max_abs(w_mix, golden["w_mix"]) <= TOL
        assert max_abs(gen(w_mix), golden["img_mix"]) <= TOL
        assert max_abs(gen(torch.cat([w_a, w_b])), golden["img_AB_batch"]) <= TOL
        assert max_abs(gen.style(torch.from_numpy(golden["z"])), golden["mapping_w"]) <= TOL


def test_noise_modes_change_the_image(golden_model, golden):
    gen = golden_model.generator
    w = torch.from_numpy(golden["w_A"])
    with torch.no_grad():
        const = gen(w, noise=gen.make_noise("const"))
        none = gen(w, noise=gen.make_noise("none"))
        rand1 = gen(w, noise=gen.make_noise("random", seed=1))
        rand1b = gen(w, noise=gen.make_noise("random", seed=1))
        rand2 = gen(w, noise=gen.make_noise("random", seed=2))
    assert max_abs(const, golden["img_A"]) <= TOL
    assert max_abs(none, const) > 0.01
    assert torch.equal(rand1, rand1b)
    assert max_abs(rand1, rand2) > 0.01


def test_truncation_pulls_toward_average(golden_model, golden):
    gen = golden_model.generator
    w = torch.from_numpy(golden["w_A"])
    avg = golden_model.average_w()
    with torch.no_grad():
        at_avg = gen(w, truncation=0.0, truncation_latent=avg)
        expected = gen(avg.expand(1, gen.n_latent, -1))
    assert max_abs(at_avg, expected) <= 1e-5


def _manifest_dict(name: str, prefix_map=None) -> dict[str, tuple]:
    out = {}
    for row in read_manifest(name):
        out[row["key"]] = (row["shape"], row["dtype"])
    return out


def test_full_size_e4e_layout_matches_published_checkpoint():
    expected = _manifest_dict("e4e_ffhq_keys.tsv")
    assert expected.pop("latent_avg") == ((18, 512), "float32")
    built = build_state_dict_shapes(GeneratorConfig(size=1024), EncoderConfig(stylegan_size=1024))
    assert list(built) == list(expected), "key order differs from the published checkpoint"
    got = {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in built.items()}
    assert got == expected


def test_full_size_generator_matches_rosinality_checkpoint():
    expected = _manifest_dict("rosinality_g_ema_keys.tsv")
    assert expected.pop("latent_avg") == ((512,), "float32")
    with torch.device("meta"):
        gen = Generator(GeneratorConfig(size=1024))
    got = {"g_ema." + k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in gen.state_dict().items()}
    assert list(got) == list(expected)
    assert got == expected


def test_configs_are_inferred_from_keys():
    built = build_state_dict_shapes(GeneratorConfig(size=1024), EncoderConfig(stylegan_size=1024))
    dec = {k[len("decoder."):]: v for k, v in built.items() if k.startswith("decoder.")}
    enc = {k[len("encoder."):]: v for k, v in built.items() if k.startswith("encoder.")}
    assert infer_generator_config(dec) == GeneratorConfig(size=1024)
    assert infer_encoder_config(enc) == EncoderConfig(stylegan_size=1024)


def test_rosinality_layout_loads_generator_only(tmp_path, golden_model):
    gen = golden_model.generator
    path = tmp_path / "g.pt"
    torch.save({"g_ema": gen.state_dict(), "latent_avg": golden_model.latent_avg[0].clone()}, path)
    model = load_model(path)
    assert model.encoder is None and model.layout == "rosinality"
    assert model.latent_avg.shape == (gen.n_latent, gen.style_dim)
    w = torch.randn(1, gen.n_latent, gen.style_dim)
    with torch.no_grad():
        assert torch.allclose(model.generator(w), gen(w), atol=1e-6)
    with pytest.raises(CheckpointError, match="no encoder"):
        model.encode(torch.zeros(1, 3, 256, 256))


def test_checkpoints_load_with_torch_2_1s_rule_for_mmap(tiny_ckpt, monkeypatch):
    """torch 2.1, the lowest torch setup.cfg allows, memory-maps only a checkpoint named by a str: given a
    Path it raises "f must be a string filename in order to use mmap argument" (2.2 took path-likes), so
    every model, the demo preset included, failed to load there as "not a readable PyTorch checkpoint".
    torch.load here is wrapped to keep 2.1's rule, whatever torch runs the suite."""
    real_load, seen = torch.load, []

    def load_as_2_1(f, *args, mmap=None, **kwargs):
        seen.append((type(f).__name__, mmap))
        if mmap and not isinstance(f, str):
            raise ValueError("f must be a string filename in order to use mmap argument")
        return real_load(f, *args, mmap=mmap, **kwargs)

    monkeypatch.setattr(torch, "load", load_as_2_1)
    model = load_model(tiny_ckpt)
    assert model.encoder is not None and seen == [("str", True)]


# --- failure modes: each one line naming the file ---------------------------------------------


def test_not_a_checkpoint(tmp_path):  # text, not a zip or pickle
    bad = tmp_path / "notes.pt"
    bad.write_text("hello, I am not a checkpoint\n")
    with pytest.raises(CheckpointError, match=r"^notes\.pt: not a readable PyTorch checkpoint") as err:
        load_model(bad)
    assert "\n" not in str(err.value)


def test_an_image_or_a_code_given_as_weights_is_said_to_be_one_not_a_damaged_checkpoint(tmp_path):
    """`--weights b.png` or `interp weights verify a.npy` (a code from encode) said "not a readable PyTorch
    checkpoint (truncated or corrupt: Unsupported operand 80)": a whole file, called damaged."""
    from interp_cli.errors import cli_words

    with pytest.raises(CheckpointError) as err:
        load_model(GOLDEN_DIR / "golden_input_A.png")
    assert str(err.value) == "golden_input_A.png: an image, not a PyTorch checkpoint"
    np.save(tmp_path / "a.npy", np.zeros((10, 128), np.float32))
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "a.npy")
    assert str(err.value) == "a.npy: a .npy array (such as a code encode() writes), not a PyTorch checkpoint"
    with cli_words(), pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "a.npy")
    assert str(err.value) == "a.npy: a .npy array (such as a code `interp encode` writes), not a PyTorch checkpoint"


def test_truncated_checkpoint(tmp_path, tiny_ckpt):
    cut = tmp_path / "cut.pt"
    data = tiny_ckpt.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"^cut\.pt: not a readable PyTorch checkpoint \(truncated or corrupt"):
        load_model(cut)


PLAIN_PICKLE = ("pp.pt: not a PyTorch checkpoint but a plain Python pickle (pickle.dump, not torch.save); such "
                "files are not loaded, as unpickling them can run code. If you trust it, save it again with "
                "torch.save, in Python: ")


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_a_plain_pickle_is_called_one_and_torch_warns_nothing(tmp_path, protocol):
    """The auditor's case: torch's two-line "Detected pickle protocol 4" warning, then "truncated or corrupt";
    protocols 0 and 1, which have no header, were still called truncated or corrupt."""
    path = tmp_path / "pp.pt"
    path.write_bytes(pickle.dumps({"a": [1]}, protocol=protocol))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError) as err:
            load_model(path)
    assert str(err.value).startswith(PLAIN_PICKLE)
    assert [str(w.message) for w in caught] == []


def _follow_the_resave_advice(message: str, cwd: Path) -> Path:
    """Run the Python line an error gives (on a file this test wrote, so trusted), in `cwd`; the file it names.

    In this process, in a namespace of its own as a fresh interpreter's: the line must import what it uses,
    and its relative names resolve from `cwd`. (A `python -c` child per case, twelve in this file, paid torch's
    import each time for nothing the line does differently there.)"""
    code, _, target = message.split("in Python: ", 1)[1].partition("; then use ")
    here = os.getcwd()
    os.chdir(cwd)
    try:
        exec(compile(code, "<the advice>", "exec"), {"__name__": "__main__"})
    finally:
        os.chdir(here)
    return cwd / target


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_plain_pickled_weights_load_once_saved_again_as_the_error_says(tmp_path, tiny_ckpt, protocol, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with open(tmp_path / "sub" / "pp.pt", "wb") as fh:
        pickle.dump(torch.load(tiny_ckpt, weights_only=True), fh, protocol=protocol)
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "sub" / "pp.pt", name="sub/pp.pt")
    message = str(err.value)
    assert message.startswith(PLAIN_PICKLE.replace("pp.pt", "sub/pp.pt"))
    # Named as given, relative to where the command ran: the advice runs there.
    assert message.endswith("torch.save(pickle.load(open('sub/pp.pt', 'rb')), 'sub/pp_resaved.pt'); "
                            "then use sub/pp_resaved.pt")
    assert load_model(_follow_the_resave_advice(message, tmp_path)).size == load_model(tiny_ckpt).size


def test_the_resave_advice_never_replaces_a_file_that_exists(tmp_path, tiny_ckpt, monkeypatch):
    # It named sub/pp_resaved.pt even when a first re-save (or anything else) was there: following it replaced that.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with open(tmp_path / "sub" / "pp.pt", "wb") as fh:
        pickle.dump(torch.load(tiny_ckpt, weights_only=True), fh, protocol=4)
    earlier = tmp_path / "sub" / "pp_resaved.pt"
    earlier.write_bytes(b"someone else's file")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "sub" / "pp.pt", name="sub/pp.pt")
    message = str(err.value)
    assert message.endswith("'sub/pp_resaved2.pt'); then use sub/pp_resaved2.pt")
    assert load_model(_follow_the_resave_advice(message, tmp_path)).size == load_model(tiny_ckpt).size
    assert earlier.read_bytes() == b"someone else's file"


@pytest.mark.parametrize("zipped", [False, True], ids=["old-format", "zip"])
@pytest.mark.parametrize("protocol", [1, 4, 5])
def test_a_torch_save_in_a_protocol_weights_only_cannot_read_says_so_and_how_to_fix_it(tmp_path, tiny_ckpt, protocol,
                                                                                       zipped):
    # These read "not a readable PyTorch checkpoint (truncated or corrupt: Unsupported operand 149)".
    path = tmp_path / "old.pt"
    torch.save(torch.load(tiny_ckpt, weights_only=True), path, pickle_protocol=protocol,
               _use_new_zipfile_serialization=zipped)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    message = str(err.value)
    old = "" if zipped else "an old-format (before torch 1.6) "
    assert message.startswith(f"old.pt: {old or 'a '}torch.save checkpoint written with pickle protocol {protocol}, "
                              f"which torch {torch.__version__} cannot load without unpickling code")
    assert "truncated" not in message and "\n" not in message
    assert load_model(_follow_the_resave_advice(message, tmp_path)).size == load_model(tiny_ckpt).size


@pytest.mark.parametrize("zipped", [False, True], ids=["old-format", "zip"])
def test_a_torch_save_in_protocol_0_is_said_to_be_unloadable_by_torch_itself(tmp_path, tiny_ckpt, zipped):
    path = tmp_path / "zero.pt"
    torch.save(torch.load(tiny_ckpt, weights_only=True), path, pickle_protocol=0,
               _use_new_zipfile_serialization=zipped)
    with pytest.raises(AssertionError):  # why no re-save is offered: torch cannot read it back either
        torch.load(path, weights_only=False)
    with pytest.raises(CheckpointError, match=r"^zero\.pt: .*torch\.save checkpoint written with pickle protocol 0, "
                                              r"which torch cannot load back, safely or not; save the model again"):
        load_model(path)


@pytest.mark.parametrize("protocol", [2, 3])
def test_an_old_format_torch_save_of_tensors_loads(tmp_path, tiny_ckpt, protocol):
    old = tmp_path / "old.pt"  # weights_only reads torch's pre-1.6 format too, in the protocols it knows
    torch.save(torch.load(tiny_ckpt, weights_only=True), old, pickle_protocol=protocol,
               _use_new_zipfile_serialization=False)
    assert load_model(old).size == load_model(tiny_ckpt).size


def test_a_truncated_old_format_torch_save_is_not_called_a_plain_pickle(tmp_path, tiny_ckpt):
    old = tmp_path / "old.pt"  # torch.save before 1.6's zip format: pickles too, but starting with torch's number
    torch.save(torch.load(tiny_ckpt, weights_only=True), old, _use_new_zipfile_serialization=False)
    assert load_model(old).size == load_model(tiny_ckpt).size
    old.write_bytes(old.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"^old\.pt: not a readable PyTorch checkpoint \(truncated or corrupt"):
        load_model(old)


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pt"):
        load_model(empty)


def test_missing_and_unexpected_keys(tmp_path, tiny_ckpt):
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    missing = dict(ckpt, state_dict={k: v for k, v in ckpt["state_dict"].items() if k != "decoder.conv1.noise.weight"})
    torch.save(missing, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"^missing\.pt: missing keys decoder\.conv1\.noise\.weight$"):
        load_model(tmp_path / "missing.pt")

    extra = dict(ckpt, state_dict=dict(ckpt["state_dict"], **{"decoder.bogus.weight": torch.zeros(1)}))
    torch.save(extra, tmp_path / "extra.pt")
    with pytest.raises(CheckpointError, match=r"^extra\.pt: unexpected keys decoder\.bogus\.weight$"):
        load_model(tmp_path / "extra.pt")

    state = dict(ckpt["state_dict"])
    state["decoder.conv1.activate.bias"] = torch.zeros(7)
    torch.save(dict(ckpt, state_dict=state), tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match=r"^shape\.pt: wrong shapes: decoder\.conv1\.activate\.bias \[7\]"):
        load_model(tmp_path / "shape.pt")


def test_a_stray_key_beside_the_encoder_and_decoder_is_refused_by_name(tmp_path, tiny_ckpt):
    """A state dict with weights that are neither the encoder's nor the generator's (another network saved into the
    file, a damaged key) is not an e4e checkpoint this code reads right: named, not loaded."""
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    stray = dict(ckpt, state_dict=dict(ckpt["state_dict"], **{"discriminator.weight": torch.zeros(1)}))
    torch.save(stray, tmp_path / "stray.pt")
    with pytest.raises(CheckpointError, match=r"^stray\.pt: unexpected keys discriminator\.weight$"):
        load_model(tmp_path / "stray.pt")


def test_a_latent_avg_saved_as_one_code_loads_as_that_code_at_every_layer(tmp_path, tiny_ckpt):
    """e4e trainings save the average code either per layer `[n_latent, D]` or once `[D]`: both load, and encode
    alike."""
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    assert ckpt["latent_avg"].ndim == 2
    one = ckpt["latent_avg"][0]
    per_layer = dict(ckpt, latent_avg=one.expand_as(ckpt["latent_avg"]).clone())
    torch.save(per_layer, tmp_path / "per_layer.pt")
    torch.save(dict(ckpt, latent_avg=one.clone()), tmp_path / "once.pt")
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    a, b = load_model(tmp_path / "per_layer.pt"), load_model(tmp_path / "once.pt")
    assert torch.equal(a.latent_avg, b.latent_avg)
    assert torch.equal(a.encode(x), b.encode(x))


def test_a_checkpoint_trained_without_start_from_latent_avg_encodes_without_it(tmp_path, tiny_ckpt):
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    torch.save(dict(ckpt, opts=dict(ckpt["opts"], start_from_latent_avg=False)), tmp_path / "plain.pt")
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with_avg, plain = load_model(tiny_ckpt), load_model(tmp_path / "plain.pt")
    assert not plain.start_from_latent_avg
    assert torch.allclose(plain.encode(x), with_avg.encode(x) - with_avg.latent_avg, atol=1e-6)


def test_truncation_pulls_an_e4e_checkpoints_faces_toward_its_own_latent_avg(tiny_ckpt):
    """`--truncation 0` draws the checkpoint's average face (its saved latent_avg), not nothing and not the mapping
    network's own estimate."""
    model = load_model(tiny_ckpt)
    gen = model.generator
    w = torch.randn(1, gen.n_latent, gen.style_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        at_avg = gen(w, truncation=0.0, truncation_latent=model.average_w(), noise=gen.make_noise("const"))
        expected = gen(model.latent_avg.mean(0).expand(1, gen.n_latent, -1), noise=gen.make_noise("const"))
    assert max_abs(at_avg, expected) <= 1e-6


def test_a_python_caller_loading_a_file_that_is_not_there_gets_one_checkpoint_error_naming_it(tmp_path):
    with pytest.raises(CheckpointError, match=r"^gone\.pt: weights file not found$"):
        load_model(tmp_path / "gone.pt")
    (tmp_path / "folder.pt").mkdir()
    with pytest.raises(CheckpointError, match=r"^folder\.pt: weights file not found$"):
        load_model(tmp_path / "folder.pt")


def test_a_generator_only_checkpoint_with_no_latent_avg_truncates_toward_its_mapped_average(tmp_path, tiny_ckpt):
    """A rosinality `g_ema` saved without `latent_avg` still renders `--truncation` frames: toward the average of
    its mapping network's codes."""
    gen = load_model(tiny_ckpt).generator
    torch.save({"g_ema": gen.state_dict()}, tmp_path / "g.pt")
    model = load_model(tmp_path / "g.pt")
    assert model.latent_avg is None
    avg = model.average_w()
    with torch.no_grad():
        codes = gen.style(torch.randn(4096, gen.style_dim, generator=torch.Generator().manual_seed(1)))
    # Two means of 4096 mapped codes (other draws) agree to within a few standard errors, each dimension.
    assert avg.shape == (gen.style_dim,)
    assert ((avg - codes.mean(0)).abs() <= 6 * codes.std(0) / 64).all()


def test_an_encoder_missing_a_key_its_layout_is_read_from_is_named(tmp_path, tiny_ckpt):
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    state = {k: v for k, v in ckpt["state_dict"].items() if k != "encoder.styles.0.linear.weight"}
    torch.save(dict(ckpt, state_dict=state), tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match=r"^cut\.pt: encoder is missing key 'styles\.0\.linear\.weight'$"):
        load_model(tmp_path / "cut.pt")


def test_wrong_top_level_layout(tmp_path):
    torch.save({"model": {"w": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"^other\.pt: not an e4e or StyleGAN2 checkpoint"):
        load_model(tmp_path / "other.pt")


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _Payload()}, f)
    shutil.copy(path, tmp_path / "evil2.pt")
    torch.save({"state_dict": {"x": _Payload()}}, tmp_path / "evil3.pt")
    for name in ("evil.pt", "evil3.pt"):
        with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
            load_model(tmp_path / name)
    assert "this must never run" not in capsys.readouterr().out


@pytest.mark.parametrize("value", [[1.0, 2.0], 3, "weights"])
def test_an_entry_that_is_not_a_tensor_is_a_checkpoint_error_naming_it(tmp_path, tiny_ckpt, value):
    # weights_only loads lists, numbers and strings too; one used to reach the shape inference (AttributeError)
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    torch.save(dict(ckpt, state_dict=dict(ckpt["state_dict"], **{"decoder.style.1.weight": value})),
               tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match=r"^odd\.pt: decoder\.style\.1\.weight is not a tensor \("):
        load_model(tmp_path / "odd.pt")
    torch.save({"g_ema": {"style.1.weight": value}}, tmp_path / "odd_g.pt")
    with pytest.raises(CheckpointError, match=r"^odd_g\.pt: g_ema\.style\.1\.weight is not a tensor"):
        load_model(tmp_path / "odd_g.pt")


DEMO = Path(__file__).resolve().parents[1] / "interp_cli" / "data" / "demo.pt"


@pytest.mark.parametrize(("values", "finite"), [
    ([1.0, 2.0, -3.0], True),
    ([3e38, 3e38, 3e38], True),  # finite, though their sum overflows: the exact test clears them
    ([1.0, float("nan"), 2.0], False),
    ([float("inf"), -float("inf")], False),  # the sum is NaN
    ([-float("inf"), 1.0], False),
    ([], True),
])
def test_all_finite_says_whether_a_tensor_holds_nan_or_infinity(values, finite):
    """The one finite check of the checkpoint, the face descriptor and the tuned cache: exact, though it tries the sum
    first, also where finite values overflow the sum."""
    assert all_finite(torch.tensor(values, dtype=torch.float32)) is finite
    in_half = finite and max(map(abs, values), default=0) < 65504  # float16's largest
    assert all_finite(torch.tensor(values, dtype=torch.float16)) is in_half


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_weights_that_are_not_finite_are_refused_at_load_by_the_command(tmp_path, bad):
    # They used to render black frames, and the likeness advice then said to try --weights ffhq.
    ckpt = torch.load(DEMO, weights_only=True)
    state = dict(ckpt["state_dict"])
    state["decoder.convs.0.conv.weight"] = state["decoder.convs.0.conv.weight"].clone()
    state["decoder.convs.0.conv.weight"].view(-1)[7] = bad
    torch.save(dict(ckpt, state_dict=state), tmp_path / "broken.pt")
    root = Path(__file__).resolve().parents[1]
    photos = [str(root / "examples" / name) for name in ("demo_a.png", "demo_b.png")]
    done = subprocess.run([sys.executable, "-m", "interp_cli", *photos, "--weights", "broken.pt", "--no-align",
                           "--steps", "2", "-o", "out.gif"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "INTERP_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["interp: error: broken.pt: decoder.convs.0.conv.weight holds NaN or "
                                                "infinite values: the file is damaged (download or export it again)"]
    assert not (tmp_path / "out.gif").exists()


def test_the_finite_check_runs_once_per_file_version(tmp_path, tiny_ckpt, monkeypatch):
    import interp_cli.models.checkpoint as checkpoint

    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real = checkpoint._refuse_non_finite
    monkeypatch.setattr(checkpoint, "_refuse_non_finite", lambda *args: calls.append(1) or real(*args))
    copy = tmp_path / "tiny.pt"
    shutil.copy(tiny_ckpt, copy)
    load_model(copy)
    load_model(copy)
    assert len(calls) == 1  # the pass is remembered for this size + mtime
    ckpt = torch.load(copy, weights_only=True)
    state = dict(ckpt["state_dict"])
    state["decoder.conv1.activate.bias"] = torch.full_like(state["decoder.conv1.activate.bias"], float("nan"))
    torch.save(dict(ckpt, state_dict=state), copy)  # rewritten in place: a new version, checked again
    with pytest.raises(CheckpointError, match=r"^tiny\.pt: decoder\.conv1\.activate\.bias holds NaN"):
        load_model(copy)
    assert len(calls) == 2


def test_tiny_checkpoint_round_trip(tiny_ckpt):
    model = load_model(tiny_ckpt)
    assert model.meta == {"name": "tiny"}
    assert model.n_latent == 6 and model.size == 16 and model.encoder_input_size == 64
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    codes = model.encode(x)
    assert codes.shape == (2, 6, 32)
    with torch.no_grad():
        img = model.generator(codes)
    assert img.shape == (2, 3, 16, 16)


def test_loading_a_checkpoint_does_not_import_dynamo():
    """Building the networks on the meta device must not touch meta-tensor maths: its first use
    imports torch._dynamo, which cost every CLI run ~1.5 s of start-up (fresh interpreter here)."""
    probe = ("import sys; from interp_cli.models.checkpoint import load_model; "
             "m = load_model('interp_cli/data/demo.pt'); "
             "assert m.encoder is not None; print('torch._dynamo' in sys.modules)")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fresh_weights_are_randn_and_undrawn_on_meta():
    torch.manual_seed(0)
    expected = torch.randn(3, 5) / 0.01
    torch.manual_seed(0)
    assert torch.equal(fresh_normal(3, 5, divide_by=0.01), expected)
    with torch.device("meta"):
        assert fresh_normal(3, 5).is_meta
        assert make_fir_kernel((1, 3, 3, 1)).device.type == "cpu"


def _mapped(path) -> int:
    with open("/proc/self/maps") as maps:
        return sum(os.fspath(path) in line for line in maps)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the process's mappings (Linux)")
def test_dropping_the_encoder_unmaps_the_checkpoint_and_walks_the_heap_only_where_a_cycle_holds_it(tiny_ckpt):
    """`drop_encoder` lets the checkpoint's mapping go (the generator copied out of it). It ran a full garbage
    collection every time, which walks every object of the process: ~0.1 s per morph in a Python caller's
    process, whose objects are not frozen as the CLI's own are. A morph's encoder is freed by its last
    reference going; a full collection is left for an encoder a reference cycle still holds, which it frees."""
    import gc

    full = []

    def count(phase, info):
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    gc.callbacks.append(count)
    enabled = gc.isenabled()
    gc.disable()  # only the collections drop_encoder asks for are counted
    try:
        model = load_model(tiny_ckpt)
        assert _mapped(tiny_ckpt) == 1
        model.drop_encoder()
        assert model.encoder is None and _mapped(tiny_ckpt) == 0 and full == []
        held = load_model(tiny_ckpt)
        held.encoder.itself = [held.encoder]  # a cycle: only the collector can free it
        held.drop_encoder()
        assert len(full) == 1 and _mapped(tiny_ckpt) == 0
    finally:
        gc.callbacks.remove(count)
        if enabled:
            gc.enable()
    assert model.generator(model.average_w().expand(1, model.n_latent, -1)).shape[-1] == 16


def _demo_with(change) -> dict:
    ckpt = torch.load(DEMO, weights_only=True)
    ckpt = dict(ckpt, state_dict=dict(ckpt["state_dict"]), opts=dict(ckpt["opts"]))
    change(ckpt)
    return ckpt


# Hand-made or foreign checkpoints that torch loads but are not a network interp can build: each one used to be an
# internal error (IndexError, ValueError, RuntimeError, ZeroDivisionError from building a 0-wide network), or was
# loaded with a warning on stderr (complex weights), or named the wrong thing (a state_dict that is a list).
_HAND_MADE = {
    "a 1-D style weight": (lambda c: c["state_dict"].update({"decoder.style.1.weight": torch.zeros(5)}),
                           "style.1.weight has shape [5], which is not this weight's"),
    "a 0-wide style weight": (lambda c: c["state_dict"].update({"decoder.style.1.weight": torch.zeros(128, 0)}),
                              "style.1.weight has shape [128, 0], which is not this weight's"),
    "a 1-D constant input": (lambda c: c["state_dict"].update({"decoder.input.input": torch.zeros(5)}),
                             "input.input has shape [5], which is not this weight's"),
    "a scalar encoder weight": (lambda c: c["state_dict"].update({"encoder.styles.0.linear.weight": torch.tensor(1.0)}),
                                "styles.0.linear.weight has shape [], which is not this weight's"),
    "a scalar encoder unit": (lambda c: c["state_dict"].update({"encoder.body.0.res_layer.1.weight": torch.tensor(1.)}),
                              "body.0.res_layer.1.weight has shape [], which is not this weight's"),
    "a stylegan_size that is a word": (lambda c: c["opts"].update(stylegan_size="big"),
                                       "opts' stylegan_size is str 'big', not a number"),
    "a start_from_latent_avg of three values": (lambda c: c["opts"].update(start_from_latent_avg=torch.zeros(3)),
                                                "opts' start_from_latent_avg is Tensor 'tensor([0., 0., 0.])', not a "
                                                "flag"),
    "a scalar latent_avg": (lambda c: c.update(latent_avg=torch.tensor(1.0)), "latent_avg has the wrong shape"),
    "complex weights": (lambda c: c["state_dict"].update(
        {"decoder.style.1.weight": c["state_dict"]["decoder.style.1.weight"].to(torch.complex64)}),
        "decoder.style.1.weight is complex64, not real weights"),
    "a state_dict that is a list": (lambda c: c.update(state_dict=[1, 2]), "its state_dict is list, not a dict of "
                                                                           "tensors"),
    "an lr_mlp that is a word": (lambda c: c["opts"].update(interp={"generator": {"lr_mlp": "x"}}),
                                 "opts' interp.generator.lr_mlp is str 'x', not a number"),
}


@pytest.mark.parametrize("case", sorted(_HAND_MADE))
def test_a_hand_made_checkpoint_torch_loads_is_one_line_naming_it_and_exit_1(tmp_path, case):
    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner

    change, said = _HAND_MADE[case]
    torch.save(_demo_with(change), tmp_path / "made.pt")
    np.save(tmp_path / "code.npy", np.zeros((10, 128), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # complex weights used to load with torch's "discards the imaginary part"
        result = cli_runner().invoke(cli, ["render", str(tmp_path / "code.npy"), "--weights", str(tmp_path / "made.pt"),
                                           "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [f"interp: error: {tmp_path / 'made.pt'}: {said}"]
    assert not (tmp_path / "out.png").exists()
    with pytest.raises(CheckpointError, match=r"^made\.pt: "):
        load_model(tmp_path / "made.pt")


_LOAD_SHORT_OF_ADDRESS_SPACE = """
import resource, sys
from interp_cli.errors import CheckpointError
from interp_cli.failures import reported
from interp_cli.models.checkpoint import read_checkpoint_file
size = int(next(line for line in open("/proc/self/status") if line.startswith("VmSize:")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + 4 * 2 ** 20, resource.RLIM_INFINITY))  # less than the file's 13 MB
try:
    read_checkpoint_file(sys.argv[1])
except CheckpointError as err:
    print("blamed the file:", err)
except Exception as err:
    print(reported(err, "encode")[0])
else:
    print("loaded")
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc to size the limit")
def test_a_checkpoint_this_process_has_no_room_to_map_is_not_called_damaged():
    """Under `ulimit -v` a morph could fail where torch.load maps the weights: "unable to mmap ... Cannot allocate
    memory (12)" was told as "demo.pt: not a readable PyTorch checkpoint (truncated or corrupt)", for a whole file
    (the shipped model's, or the 1.2 GB ffhq download). It is out of memory, said as such."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", _LOAD_SHORT_OF_ADDRESS_SPACE, str(DEMO)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.startswith("out of memory: this process may use only "), done.stdout + done.stderr


def test_a_generators_image_at_a_lower_size_is_the_image_a_generator_of_that_size_draws_with_its_layers():
    """`Generator.image_at` (what `--tune` compares for models over 256 px): the image at 16 px of a 32 px
    generator is the image a 16 px generator holding the same lower layers draws from the same codes and noise,
    and at the generator's own size it is the generator's image."""
    channels = {4: 16, 8: 16, 16: 8, 32: 8}
    torch.manual_seed(0)
    big = Generator(GeneratorConfig(size=32, style_dim=16, n_mlp=2, channels=channels)).eval()
    small = Generator(GeneratorConfig(size=16, style_dim=16, n_mlp=2, channels=channels)).eval()
    small.load_state_dict({name: value for name, value in big.state_dict().items() if name in small.state_dict()})
    w = torch.randn(2, big.n_latent, 16, generator=torch.Generator().manual_seed(1))
    noise = big.make_noise("random", seed=3)
    with torch.no_grad():
        assert max_abs(big.image_at(w, noise, 32), big(w, noise=noise)) <= 1e-6
        at_16 = big.image_at(w, noise, 16)
        assert at_16.shape == (2, 3, 16, 16)
        assert max_abs(at_16, small(w[:, :small.n_latent], noise=noise[:small.num_layers])) <= 1e-6
