"""The StyleGAN2 generator (interp_cli/models/stylegan2.py) as a Python caller builds and runs it.

The golden comparison with rosinality's code is tests/test_models.py's; the fast formulations' is
tests/test_stylegan2_fast.py's (both read the FIR kernels from the network itself, so neither sees a
fresh network's kernels). Here: what a freshly built generator holds, as a model trained from scratch
(weights/train_demo.py) saves it.
"""

from __future__ import annotations

import torch

from interp_cli.models.stylegan2 import Generator, GeneratorConfig

SMALL = dict(size=32, style_dim=16, n_mlp=2, channels={4: 24, 8: 24, 16: 16, 32: 8})


def test_a_fresh_generators_upsampling_filters_are_the_published_ones():
    # StyleGAN2's [1, 3, 3, 1] binomial filter, normalised and scaled by 4 for the 2x upsampling it follows:
    # the values every published checkpoint holds in its `*.kernel` buffers, one per upsampling conv and one per
    # RGB skip. A fresh generator with another filter trains and saves a model that blurs differently.
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    published = torch.outer(taps, taps) / 16
    kernels = {name: value for name, value in Generator(GeneratorConfig(**SMALL)).state_dict().items()
               if name.endswith(".kernel")}
    assert sorted(kernels) == ["convs.0.conv.blur.kernel", "convs.2.conv.blur.kernel", "convs.4.conv.blur.kernel",
                               "to_rgbs.0.upsample.kernel", "to_rgbs.1.upsample.kernel", "to_rgbs.2.upsample.kernel"]
    for name, kernel in kernels.items():
        assert torch.equal(kernel, published), name


def test_a_fresh_generators_weights_and_noise_maps_are_drawn_at_the_references_scale():
    # Equalized learning rate keeps the stored weights N(0, 1) (the mapping's N(0, 1) / lr_mul, 100 here) and
    # scales them at run time; the noise maps are N(0, 1) too. A model trained from scratch starts from these
    # (weights/train_demo.py), and the noise maps are the ones it saves and `--noise const` renders with.
    torch.manual_seed(0)
    gen = Generator(GeneratorConfig(**SMALL))
    drawn = {name: value for name, value in gen.state_dict().items()
             if name.endswith("conv.weight") or name == "input.input" or name.startswith("noises.")}
    assert len(drawn) == 6 + 1 + 3 + 1 + 1 + 7  # styled convs, conv1, to-RGBs, to_rgb1, input, noise maps
    for name, value in drawn.items():
        if value.numel() >= 256:  # the 4x4 and 8x8 noise maps are too few numbers to measure a spread
            assert 0.85 < value.std().item() < 1.15, name
    for layer in (1, 2):
        assert 85 < gen.state_dict()[f"style.{layer}.weight"].std().item() < 115


def test_random_noise_with_no_seed_is_the_clis_default_seed_and_another_seed_differs():
    # `interp morph --noise random` seeds with --seed, 0 by default; a Python caller naming no seed gets the same
    # maps, and so the same frames, as the command with its default.
    gen = Generator(GeneratorConfig(**SMALL))
    unseeded = gen.make_noise("random")
    default, other = gen.make_noise("random", seed=0), gen.make_noise("random", seed=1)
    assert len(unseeded) == gen.num_layers
    assert all(torch.equal(a, b) for a, b in zip(unseeded, default))
    assert not any(torch.equal(a, b) for a, b in zip(default, other))
