"""The fast formulations in the networks compute the same function as the plain ones.

Each speed-up in `interp_cli/models/stylegan2.py` and `e4e.py` reorders arithmetic (weights
folded, in-place updates, channels_last, one frame at a time on CPU); these tests pin each one
against a direct transcription of the reference maths on small random networks, in fp32, on
random inputs (never zeros). No timings here: see benchmarks/bench.py.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from interp_cli.models.e4e import BottleneckIR
from interp_cli.models.stylegan2 import (
    SQRT2,
    Blur,
    Generator,
    GeneratorConfig,
    ModulatedConv2d,
    StyledConv,
    ToRGB,
    Upsample,
    make_fir_kernel,
)

SMALL = dict(size=32, style_dim=16, n_mlp=2, channels={4: 24, 8: 24, 16: 16, 32: 8})


def reference_upfirdn2d(x, kernel, up=1, pad=(0, 0)):
    """rosinality's upfirdn2d_native for down=1: zero insertion, pad/crop, flipped-kernel conv."""
    b, c, h, w = x.shape
    out = x.reshape(b * c, 1, h, 1, w, 1)
    out = F.pad(out, [0, up - 1, 0, 0, 0, up - 1]).reshape(b * c, 1, h * up, w * up)
    p0, p1 = pad
    out = F.pad(out, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    out = out[:, :, max(-p0, 0): out.shape[2] - max(-p1, 0), max(-p0, 0): out.shape[3] - max(-p1, 0)]
    out = F.conv2d(out, torch.flip(kernel, [0, 1])[None, None])
    return out.reshape(b, c, out.shape[2], out.shape[3])


def reference_modulated_conv(conv: ModulatedConv2d, x, w):
    """rosinality's ModulatedConv2d: one modulated (and demodulated) weight per sample, grouped conv."""
    batch, in_ch, h, wd = x.shape
    style = conv.modulation(w).view(batch, 1, in_ch, 1, 1)
    weight = conv.scale * conv.weight * style
    if conv.demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(batch, conv.out_channel, 1, 1, 1)
    k = conv.kernel_size
    weight = weight.view(batch * conv.out_channel, in_ch, k, k)
    x = x.reshape(1, batch * in_ch, h, wd)
    if conv.upsample:
        weight = weight.view(batch, conv.out_channel, in_ch, k, k).transpose(1, 2).reshape(batch * in_ch,
                                                                                          conv.out_channel, k, k)
        out = F.conv_transpose2d(x, weight, stride=2, groups=batch)
        out = out.view(batch, conv.out_channel, out.shape[2], out.shape[3])
        return reference_upfirdn2d(out, conv.blur.kernel, pad=conv.blur.pad)
    out = F.conv2d(x, weight, padding=conv.padding, groups=batch)
    return out.view(batch, conv.out_channel, h, wd)


def randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial values everywhere (the default init leaves biases and noise strengths at zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") or name.endswith("noise.weight"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5 + (1.0 if "modulation" in name else 0.0))
    return module.eval()


def assert_close(a, b, tol=1e-5):
    scale = max(1.0, b.abs().max().item())
    assert a.shape == b.shape
    assert (a - b).abs().max().item() <= tol * scale


@pytest.mark.parametrize("size", [5, 8, 16])
def test_upsample_as_transposed_conv_matches_zero_insertion(size):
    up = Upsample((1, 3, 3, 1))
    x = torch.randn(2, 3, size, size)
    assert_close(up(x), reference_upfirdn2d(x, up.kernel, up=2, pad=up.pad))
    # channels_last input gives the same numbers
    assert_close(up(x.contiguous(memory_format=torch.channels_last)), up(x))


def test_blur_with_conv_padding_and_bias_matches_reference():
    blur = Blur((1, 3, 3, 1), pad=(1, 1), upsample_factor=2)
    x = torch.randn(2, 5, 17, 17)
    bias = torch.randn(5)
    assert_close(blur(x, bias), reference_upfirdn2d(x, blur.kernel, pad=(1, 1)) + bias.view(1, -1, 1, 1))
    # an asymmetric pad still takes the general path
    assert_close(Blur((1, 3, 3, 1), pad=(2, 1))(x), reference_upfirdn2d(x, blur.kernel / 4, pad=(2, 1)))


@pytest.mark.parametrize("kernel_size,demodulate,upsample,fold_blur", [
    (3, True, False, False), (3, True, True, False), (3, True, True, True), (1, False, False, False)])
@pytest.mark.parametrize("batch", [1, 3])
def test_modulated_conv_matches_per_sample_weights(kernel_size, demodulate, upsample, fold_blur, batch):
    torch.manual_seed(1)
    conv = randomize(ModulatedConv2d(6, 5, kernel_size, 16, demodulate=demodulate, upsample=upsample))
    conv.fold_blur = fold_blur  # the blur folded into one dense 6x6 transposed conv (Generator.set_upsampling)
    x, w = torch.randn(batch, 6, 9, 9), torch.randn(batch, 16)
    bias = torch.randn(5)
    expected = reference_modulated_conv(conv, x, w)
    with torch.no_grad():
        assert_close(conv(x, w), expected)
        # bias and gain are folded in (weight for one frame, output scale for a batch)
        assert_close(conv(x, w, bias=bias, gain=SQRT2), SQRT2 * expected + bias.view(1, -1, 1, 1))
        assert_close(conv(x.contiguous(memory_format=torch.channels_last), w), expected)
    # with autograd on (code refinement) the out-of-place path gives the same numbers
    assert_close(conv(x, w, bias=bias, gain=SQRT2).detach(), SQRT2 * expected + bias.view(1, -1, 1, 1))


def test_demodulation_cache_follows_weight_changes():
    torch.manual_seed(9)
    conv = randomize(ModulatedConv2d(6, 5, 3, 16))
    x, w = torch.randn(2, 6, 7, 7), torch.randn(2, 16)
    with torch.inference_mode():
        conv(x, w)                                               # fills the cache in inference mode
    with torch.no_grad():
        conv.weight.mul_(torch.rand_like(conv.weight) + 0.5)    # in-place update: version changes
        assert_close(conv(x, w), reference_modulated_conv(conv, x, w))
    state = {k: v.clone() * 0.7 if k == "weight" else v for k, v in conv.state_dict().items()}
    conv.load_state_dict(state, assign=True)                     # replaced: data pointer changes
    with torch.no_grad():
        assert_close(conv(x, w), reference_modulated_conv(conv, x, w))
    # a grad-enabled forward after an inference-mode one may save the cached tensor for backward
    fresh = randomize(ModulatedConv2d(6, 5, 3, 16)).requires_grad_(False)
    with torch.inference_mode():
        fresh(x, w)
    codes = w.clone().requires_grad_(True)
    fresh(x, codes).sum().backward()
    assert codes.grad is not None
    # and while the weight itself trains, its gradient is exact
    conv.weight.requires_grad_(True)
    conv(x, w).pow(2).sum().backward()
    got = conv.weight.grad.clone()
    conv.weight.grad = None
    reference_modulated_conv(conv, x, w).pow(2).sum().backward()
    assert_close(got, conv.weight.grad, tol=1e-4)


@pytest.mark.parametrize("upsample", [False, True])
@pytest.mark.parametrize("batch", [1, 2])
def test_styled_conv_folding_matches_module_by_module(upsample, batch):
    torch.manual_seed(2)
    layer = randomize(StyledConv(6, 5, 3, 16, upsample=upsample))
    x, w = torch.randn(batch, 6, 8, 8), torch.randn(batch, 16)
    res = 16 if upsample else 8
    noise = torch.randn(1, 1, res, res)
    with torch.no_grad():
        expected = layer.activate(layer.noise(reference_modulated_conv(layer.conv, x, w), noise))
        assert_close(layer(x, w, noise), expected)
        assert_close(layer(x, w, None), layer.activate(reference_modulated_conv(layer.conv, x, w)))
    assert_close(layer(x, w, noise).detach(), expected)


def test_to_rgb_matches_reference():
    torch.manual_seed(3)
    layer = randomize(ToRGB(6, 16))
    x, w, skip = torch.randn(2, 6, 8, 8), torch.randn(2, 16), torch.randn(2, 3, 4, 4)
    expected = (reference_modulated_conv(layer.conv, x, w) + layer.bias
                + reference_upfirdn2d(skip, layer.upsample.kernel, up=2, pad=layer.upsample.pad))
    with torch.no_grad():
        assert_close(layer(x, w, skip), expected)


def reference_generator(gen: Generator, latent, noise):
    """The synthesis network transcribed layer by layer from the reference (NCHW, per-sample weights)."""
    def styled(layer, x, w, n):
        return layer.activate(layer.noise(reference_modulated_conv(layer.conv, x, w), n))

    def rgb(layer, x, w, skip=None):
        out = reference_modulated_conv(layer.conv, x, w) + layer.bias
        if skip is not None:
            out = out + reference_upfirdn2d(skip, layer.upsample.kernel, up=2, pad=layer.upsample.pad)
        return out

    out = styled(gen.conv1, gen.input.input.expand(latent.shape[0], -1, -1, -1), latent[:, 0], noise[0])
    skip = rgb(gen.to_rgb1, out, latent[:, 1])
    i = 1
    for up_conv, conv, n1, n2, to_rgb in zip(gen.convs[::2], gen.convs[1::2], noise[1::2], noise[2::2], gen.to_rgbs):
        out = styled(up_conv, out, latent[:, i], n1)
        out = styled(conv, out, latent[:, i + 1], n2)
        skip = rgb(to_rgb, out, latent[:, i + 2], skip)
        i += 2
    return skip


@pytest.fixture(scope="module")
def small_generator():
    torch.manual_seed(4)
    return randomize(Generator(GeneratorConfig(**SMALL))).requires_grad_(False)  # frozen, as a loaded one is


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("per_frame_from", [8, 64])
def test_generator_matches_reference_transcription(small_generator, batch, per_frame_from, monkeypatch):
    gen = small_generator
    monkeypatch.setattr(gen, "PER_FRAME_FROM", per_frame_from)  # 8: CPU batches split right after 4x4
    latent = torch.randn(batch, gen.n_latent, gen.style_dim)
    noise = gen.make_noise("random", seed=5)
    with torch.no_grad():
        expected = reference_generator(gen, latent, noise)
        image = gen(latent, noise=noise)
    assert image.is_contiguous()
    assert_close(image, expected)


@pytest.mark.parametrize("per_frame_from", [8, 64])
def test_generator_layouts_batches_and_noise_shapes_agree(small_generator, per_frame_from, monkeypatch):
    gen = small_generator
    monkeypatch.setattr(gen, "PER_FRAME_FROM", per_frame_from)
    latent = torch.randn(3, gen.n_latent, gen.style_dim)
    with torch.no_grad():
        batched = gen(latent)
        one_by_one = torch.cat([gen(latent[i:i + 1]) for i in range(3)])
        # per-sample noise maps [B, 1, r, r] follow their frame on the one-frame-at-a-time path
        per_sample = [torch.randn(3, 1, *n.shape[2:]) for n in gen.noise_buffers()]
        mixed = gen(latent, noise=per_sample)
        frames = torch.cat([gen(latent[i:i + 1], noise=[n[i:i + 1] for n in per_sample]) for i in range(3)])
        monkeypatch.setattr(gen, "CHANNELS_LAST_ON", ())
        nchw = gen(latent)
    assert_close(batched, one_by_one)
    assert_close(mixed, frames)
    assert_close(nchw, batched)


@pytest.mark.parametrize("batch", [1, 2])
def test_generator_gradients_match_reference(small_generator, batch):
    """Code refinement backpropagates through the generator (one photo at a time: batch 1): the path that
    records a graph must be exact."""
    gen = small_generator
    torch.manual_seed(6)
    latent = torch.randn(batch, gen.n_latent, gen.style_dim)
    noise = [n.clone().requires_grad_(True) for n in gen.make_noise("random", seed=7)]
    target = torch.randn(batch, 3, gen.size, gen.size)

    def grads(fn):
        codes = latent.clone().requires_grad_(True)
        for n in noise:
            n.grad = None
        loss = (fn(codes, noise) - target).pow(2).mean()
        loss.backward()
        return codes.grad, [n.grad.clone() for n in noise]

    got_codes, got_noise = grads(lambda c, n: gen(c, noise=n))
    ref_codes, ref_noise = grads(lambda c, n: reference_generator(gen, c, n))
    assert_close(got_codes, ref_codes, tol=1e-4)
    for a, b in zip(got_noise, ref_noise):
        assert_close(a, b, tol=1e-4)


@pytest.mark.parametrize("stride", [1, 2])
def test_encoder_subsampling_shortcut_is_the_max_pool(stride):
    torch.manual_seed(8)
    unit = BottleneckIR(32, 32, stride).eval()
    x = torch.randn(2, 32, 11, 11)
    with torch.no_grad():
        expected = unit.shortcut_layer(x) + unit.res_layer(x)  # the reference: MaxPool2d(1, stride)
        assert_close(unit(x), expected, tol=1e-6)


def test_fir_kernel_is_normalised():
    k = make_fir_kernel((1, 3, 3, 1))
    assert k.shape == (4, 4) and math.isclose(k.sum().item(), 1.0, rel_tol=1e-6)


# --- the GPU-oriented paths (folded upsampling, layout by batch), checked here on the CPU ------------


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("layout", ["channels_last", "nchw"])
@pytest.mark.parametrize("upsampling", ["blur", "folded"])
def test_every_layout_and_upsampling_matches_reference(small_generator, batch, layout, upsampling, monkeypatch):
    gen = small_generator
    monkeypatch.setattr(gen, "PER_FRAME_FROM", 1 << 20)  # the whole batch together, as on a GPU
    monkeypatch.setattr(gen, "layout", layout)
    latent = torch.randn(batch, gen.n_latent, gen.style_dim)
    noise = gen.make_noise("random", seed=8)
    try:
        gen.set_upsampling(upsampling)
        with torch.no_grad():
            image = gen(latent, noise=noise)
    finally:
        gen.set_upsampling("blur")
    with torch.no_grad():
        assert_close(image, reference_generator(gen, latent, noise), tol=1e-4)


def test_layout_is_chosen_by_device_unless_set(small_generator, monkeypatch):
    gen = small_generator
    x = torch.zeros(8, 3, 4, 4)
    assert gen.channels_last_for(x)  # CPU: oneDNN runs NHWC whatever the batch
    monkeypatch.setattr(gen, "layout", "nchw")
    assert not gen.channels_last_for(x)
    with pytest.raises(ValueError, match="upsampling"):
        gen.set_upsampling("nearest")


def test_a_copy_of_the_generator_keeps_its_own_weights_and_caches(small_generator):
    # `--tune` renders with a tuned copy: nothing cached from the original may leak into it.
    import copy

    gen = small_generator
    latent = torch.randn(2, gen.n_latent, gen.style_dim)
    with torch.no_grad():
        before = gen(latent)
        tuned = copy.deepcopy(gen)
        for conv in tuned.modules():
            if isinstance(conv, ModulatedConv2d):
                conv.weight.mul_(1.5).add_(0.1)
        tuned.set_upsampling("folded")
        assert_close(tuned(latent), reference_generator(tuned, latent, tuned.noise_buffers()), tol=1e-4)
        assert (tuned(latent) - before).abs().max() > 1e-2
        assert_close(gen(latent), before, tol=1e-6)
    assert not any(m.fold_blur for m in gen.modules() if isinstance(m, ModulatedConv2d))


@pytest.mark.parametrize("batch", [1, 2])
def test_generator_gradients_when_tuning_match_reference(small_generator, batch):
    """Tuning backpropagates into the synthesis weights (biases and noise strengths included): with the
    in-place ReLU and the blur's own backward, every weight's gradient is still the reference's."""
    gen = small_generator
    torch.manual_seed(8)
    latent = torch.randn(batch, gen.n_latent, gen.style_dim)
    noise = gen.make_noise("random", seed=9)
    target = torch.randn(batch, 3, gen.size, gen.size)
    params = [p for name, p in gen.named_parameters() if not name.startswith("style.")]

    def grads(fn):
        for p in params:
            p.requires_grad_(True)
            p.grad = None
        try:
            (fn(latent) - target).pow(2).mean().backward()
            return [p.grad.clone() for p in params]
        finally:
            for p in params:
                p.requires_grad_(False)
                p.grad = None

    got = grads(lambda c: gen(c, noise=noise))
    ref = grads(lambda c: reference_generator(gen, c, noise))
    for a, b in zip(got, ref):
        assert_close(a, b, tol=1e-4)


def _saved_activation_bytes(gen: Generator, codes: torch.Tensor) -> tuple[int, int]:
    """(bytes of feature maps one grad-recording forward keeps for backward, each storage once; bytes of
    the styled convs' outputs). Feature maps: saved `[1, C, H, W]` tensors, not weights."""
    kept: dict[int, int] = {}
    outputs: list[int] = []

    def pack(t):
        if t.ndim == 4 and t.shape[0] == 1 and t.shape[-1] >= 8:
            kept[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o.numel() * o.element_size()))
             for m in gen.modules() if isinstance(m, StyledConv)]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            gen(codes)
    finally:
        for hook in hooks:
            hook.remove()
    return sum(kept.values()), sum(outputs)


def test_a_refine_pass_keeps_one_feature_map_per_layer(small_generator):
    """`--refine` at 1024 px peaked at 4.3 GB, mostly the feature maps kept for backward: each styled conv
    kept its input to the ReLU beside its output, and each upsampling conv's blur its 2x input. Now each
    layer keeps only its output (which the next conv needs anyway)."""
    gen = small_generator
    codes = torch.randn(1, gen.n_latent, gen.style_dim, requires_grad=True)
    kept, outputs = _saved_activation_bytes(gen, codes)
    assert kept <= 1.1 * outputs, f"{kept} bytes of feature maps kept for {outputs} bytes of layer outputs"
