"""interp_cli.render: device and precision choice, and bf16 rendering against float32."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from interp_cli.errors import UsageError, cli_words
from interp_cli.models.checkpoint import load_model
from interp_cli.render import autocast_refusal, pick_precision, precision_name, render_frames
from weights.eval_demo import DEFAULT_WEIGHTS

ROOT = Path(__file__).resolve().parents[1]

CPU = torch.device("cpu")


def test_auto_precision_is_float32_on_cpu_and_explicit_choices_are_kept():
    assert pick_precision("auto", CPU) is None
    assert pick_precision(None, CPU) is None
    assert pick_precision("fp32", CPU) is None
    assert pick_precision("bf16", CPU) is torch.bfloat16
    if autocast_refusal(CPU, torch.float16):  # torch 2.1's CPU autocast: bf16 only (the test below)
        with pytest.raises(UsageError, match=r"^precision=\"fp16\": .* cannot autocast to fp16 on CPU"):
            pick_precision("FP16", CPU)
        return
    assert pick_precision("FP16", CPU) is torch.float16
    assert [precision_name(pick_precision(n, CPU)) for n in ("auto", "bf16", "fp16")] == ["fp32", "bf16", "fp16"]


def test_unknown_precision_is_a_usage_error():
    with pytest.raises(UsageError, match='^precision="fp8": choose one of' ):
        pick_precision("fp8", CPU)


@pytest.fixture(scope="module")
def demo_codes_and_generator():
    model = load_model(DEFAULT_WEIGHTS, with_encoder=False)
    rng = np.random.default_rng(0)
    avg = model.latent_avg.numpy()
    codes = [avg + 0.5 * rng.standard_normal(avg.shape).astype(np.float32) for _ in range(3)]
    return codes, model.generator


def test_bf16_frames_are_within_a_few_grey_levels_of_float32(demo_codes_and_generator):
    codes, generator = demo_codes_and_generator
    fp32 = np.stack(list(render_frames(generator, codes, batch_size=2))).astype(int)
    bf16 = np.stack(list(render_frames(generator, codes, batch_size=2, precision=torch.bfloat16))).astype(int)
    assert bf16.shape == fp32.shape and bf16.dtype == fp32.dtype
    diff = np.abs(bf16 - fp32)
    assert diff.any(), "bf16 rendering gave float32's exact frames: autocast did not take effect"
    assert diff.mean() < 2.0
    psnr = 10 * np.log10(255.0**2 / np.mean(diff.astype(float) ** 2))
    assert psnr > 32


def test_render_ahead_keeps_order_and_raises_the_renderers_error():
    from interp_cli.render import render_ahead

    assert list(render_ahead(iter(range(50)), depth=3)) == list(range(50))

    def broken():
        yield 1
        yield 2
        raise RuntimeError("renderer broke")

    got = []
    with pytest.raises(RuntimeError, match="renderer broke"):
        for item in render_ahead(broken(), depth=4):
            got.append(item)
    assert got == [1, 2]


def test_render_ahead_makes_frames_in_the_callers_context():
    """The render thread started with an empty context, so inside `interp` a message made while rendering named
    options as a Python caller's keywords (`size=512`), not as the command's flags (`--size 512`)."""
    from interp_cli.errors import option
    from interp_cli.render import render_ahead

    def frames():
        for _ in range(3):
            yield option("size", 512)

    with cli_words():
        assert list(render_ahead(frames(), depth=2)) == ["--size 512"] * 3
    assert list(render_ahead(frames(), depth=2)) == ["size=512"] * 3


def test_render_ahead_stops_rendering_when_the_consumer_stops():
    import threading

    from interp_cli.render import render_ahead

    produced = []

    def frames():
        for i in range(1000):
            produced.append(i)
            yield i

    ahead = render_ahead(frames(), depth=2)
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()  # joins the render thread
    assert not any(t.name == "interp-render" for t in threading.enumerate())
    assert len(produced) <= 3 + 2 + 1  # consumed + queued + the one being handed over



def test_a_stop_inside_the_render_threads_start_still_stops_and_joins_it():
    """A caller's SIGTERM handler raised inside `Thread.start()` of the render thread (start waits for the thread to
    run), before the code that stops and joins it: the thread went on rendering, and at the caller's exit it was cut
    down mid-kernel (CI: "terminate called without an active exception", the process killed by SIGABRT after the
    caller had caught its exception). Now the stop is held until the thread can be stopped: it still reaches the
    caller, and no render thread is left (a real SIGTERM)."""
    import threading

    from interp_cli.render import render_ahead
    from tests.races import Stopped, stop_inside_start

    produced = []

    def frames():
        for i in range(1000):
            produced.append(i)
            yield i

    with stop_inside_start("interp-render"), pytest.raises(Stopped):
        for _ in render_ahead(frames(), depth=2):
            pass
    assert not any(t.name == "interp-render" for t in threading.enumerate())
    assert len(produced) <= 2 + 1  # queued + the one being handed over

_THREAD_LIMIT_SCRIPT = """
import os, sys, torch
torch.set_num_threads(1)
from interp_cli.render import render_ahead
x, w = torch.randn(4, 64, 64, 64), torch.randn(64, 64, 3, 3)
torch.conv2d(x, w, padding=1)
threads = lambda: len(os.listdir("/proc/self/task"))
before = threads()
def frames():
    for _ in range(3):
        torch.conv2d(x, w, padding=1)
        yield threads()
print(before, *render_ahead(frames()))
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2,
                    reason="counts the process's threads in /proc on a machine with more than one core")
def test_the_render_thread_keeps_the_callers_thread_limit():
    """A Python caller's torch.set_num_threads(1) did not reach the render-ahead thread: OpenMP's count is per
    thread, so oneDNN's convolutions there started a pool on every core (one more OS thread here, and both
    cores busy). The render thread is now the only thread the renderer adds."""
    done = subprocess.run([sys.executable, "-c", _THREAD_LIMIT_SCRIPT], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    before, *during = map(int, done.stdout.split())
    assert during == [before + 1] * 3


def test_a_device_copy_that_runs_behind_hands_on_the_same_frames_one_batch_later(demo_codes_and_generator,
                                                                                   monkeypatch):
    # A CUDA copy is asynchronous: the next batch is queued before the previous batch's frames are
    # waited for. Faked here on the CPU (what the copy does is the same; only when it is waited for changes).
    from interp_cli import render

    codes, generator = demo_codes_and_generator
    codes = codes * 3  # 9 codes: batches of 4, 4, 1
    expected = np.stack(list(render_frames(generator, codes, batch_size=4)))
    events = []
    real_copy = render._copy_to_host

    def copy_behind(frames):
        wait, _ = real_copy(frames)
        events.append(f"copy {len(events)}")

        def waited():
            events.append("wait")
            return wait()

        return waited, True

    monkeypatch.setattr(render, "_copy_to_host", copy_behind)
    got = np.stack(list(render_frames(generator, codes, batch_size=4)))
    np.testing.assert_array_equal(got, expected)
    assert events == ["copy 0", "copy 1", "wait", "copy 3", "wait", "wait"]


def test_render_ahead_can_be_turned_off_for_measuring(monkeypatch):
    import threading

    from interp_cli.render import render_ahead

    monkeypatch.setenv("INTERP_RENDER_AHEAD", "0")
    seen = []

    def frames():
        for i in range(5):
            seen.append(threading.current_thread() is threading.main_thread())
            yield i

    assert list(render_ahead(frames(), depth=2)) == list(range(5))
    assert all(seen)


def test_a_failing_compiler_falls_back_to_the_same_frames_once(demo_codes_and_generator):
    from interp_cli.render import compile_generator

    codes, generator = demo_codes_and_generator
    calls, messages = [], []

    def broken_compile(module, **options):
        def run(*args, **kwargs):
            calls.append(1)
            raise RuntimeError("backend compiler failed")
        return run

    run = compile_generator(generator, log=messages.append, compiler=broken_compile)
    latent = torch.from_numpy(np.stack(codes))
    with torch.no_grad():
        expected = generator(latent)
        assert torch.equal(run(latent), expected)
        assert torch.equal(run(latent), expected)
    assert len(calls) == 1 and len(messages) == 1 and "backend compiler failed" in messages[0]


# --- GPU-only paths, exercised on this CPU through the torch functions they ask -------------------------


def test_the_host_copy_waits_on_the_stream_of_the_frames_gpu(monkeypatch):
    """render_ahead's thread has cuda:0 as its current device: with --device cuda:1 an event recorded
    on the current stream (a bare `record()`) is cuda:0's, and waiting on it returned before the copy
    on cuda:1 ended. The event must be recorded on cuda:1's current stream. (No GPU here: torch.cuda's
    stream, event and device functions are stand-ins that log what they were asked.)"""
    from interp_cli import render

    log = []

    class Frames:
        device = torch.device("cuda:1")
        shape = (2, 4, 4, 3)

    class Host:
        def copy_(self, source, non_blocking=False):
            log.append(("copy", current[-1], non_blocking))

        def numpy(self):
            return np.zeros(Frames.shape, np.uint8)

    class Event:
        def record(self, stream=None):
            log.append(("record", stream if stream is not None else ("stream", current[-1])))

        def synchronize(self):
            log.append(("wait",))

    class on_device:
        def __init__(self, device):
            self.device = torch.device(device)

        def __enter__(self):
            current.append(self.device.index)

        def __exit__(self, *exc):
            current.pop()

    current = [0]  # the thread's current device
    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, pin_memory=False, **k: Host() if pin_memory else real_empty(*a, **k))
    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "device", on_device)
    monkeypatch.setattr(torch.cuda, "current_stream",
                        lambda device=None: ("stream", current[-1] if device is None else torch.device(device).index))
    wait, behind = render._copy_to_host(Frames())
    assert behind and wait().shape == Frames.shape
    assert ("record", ("stream", 1)) in log, log
    assert ("copy", 1, True) in log or ("copy", 0, True) in log
    assert log.index(("wait",)) > max(i for i, entry in enumerate(log) if entry[0] == "record")


def test_auto_precision_is_bf16_only_on_gpus_with_native_bf16(monkeypatch):
    """`is_bf16_supported()` says yes on a V100 or T4 (emulated bf16, slower than fp32) and asks about the
    current device: auto must judge the chosen GPU by its compute capability (Ampere, 8.0, and newer)."""
    capability = {0: (9, 0), 1: (7, 0), 2: (7, 5), 3: (8, 0), 4: (8, 6)}
    asked = []

    def get_device_capability(device=None):
        index = torch.device(device).index if device is not None else None
        asked.append(index)
        return capability[0 if index is None else index]

    monkeypatch.setattr(torch.cuda, "get_device_capability", get_device_capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # what torch >= 2.3 says there
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    picked = {i: pick_precision("auto", torch.device(f"cuda:{i}")) for i in capability}
    assert picked == {0: torch.bfloat16, 1: None, 2: None, 3: torch.bfloat16, 4: torch.bfloat16}
    assert pick_precision("auto", torch.device("cuda")) is torch.bfloat16  # no number: the current device
    assert pick_precision("bf16", torch.device("cuda:1")) is torch.bfloat16  # asked for: given
    assert 1 in asked and 2 in asked


def test_a_gpu_number_the_machine_lacks_is_a_usage_error_naming_the_ones_there(monkeypatch):
    from interp_cli.render import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == torch.device("cuda:1")
    assert pick_device("cuda") == torch.device("cuda")
    with pytest.raises(UsageError) as refused:
        pick_device("cuda:7")
    assert str(refused.value) == ('device="cuda:7": no such device; this machine has 2 CUDA devices '
                                  "(cuda:0, cuda:1)")
    with cli_words(), pytest.raises(UsageError) as refused:
        pick_device("cuda:7")
    assert str(refused.value).startswith("--device cuda:7: no such device;")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    with pytest.raises(UsageError, match=r"mps:1\": no such device; this machine has 1 MPS device \(mps:0\)"):
        pick_device("mps:1")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where this torch has no CUDA")
def test_cuda_asked_of_a_cpu_only_torch_says_the_build_not_the_machine_lacks_it():
    """README's first line installs the CPU-only torch; with an NVIDIA GPU there, `--device cuda` said "CUDA is
    not available on this machine", which the user's own nvidia-smi contradicts: the torch build is what lacks
    it, and no driver or --device choice changes that. A CUDA build without a GPU (PyPI's torch on a CPU
    machine, as the floor venv has) keeps the machine's words."""
    from interp_cli.render import pick_device

    cpu_only = torch.version.cuda is None and getattr(torch.version, "hip", None) is None
    for name in ("cuda", "cuda:1"):
        with cli_words(), pytest.raises(UsageError) as refused:
            pick_device(name)
        said = str(refused.value)
        if cpu_only:
            assert said == (f"--device {name}: this PyTorch ({torch.__version__}) is a CPU-only build (use --device "
                            "cpu; for an NVIDIA GPU, install a CUDA build of PyTorch: "
                            "https://pytorch.org/get-started/locally/)")
        else:
            assert said == f"--device {name}: CUDA is not available on this machine (use --device cpu)"
    if cpu_only:
        with pytest.raises(UsageError, match=r'^device="cuda": this PyTorch .* CPU-only build \(use device="cpu";'):
            pick_device("cuda")


def test_fp32_rendering_holds_strict_fp32_and_autocast_rendering_does_not(demo_codes_and_generator, monkeypatch):
    """On CUDA, PyTorch lets cuDNN run float32 convs in TF32 by default (Ampere and newer): --precision
    fp32 then was not fp32. The flags are real here; only "cpu" is counted as a device with TF32."""
    from interp_cli import torch_flags
    from interp_cli.render import render_float

    codes, generator = demo_codes_and_generator
    monkeypatch.setattr(torch_flags, "TF32_DEVICE_TYPES", {"cuda", "cpu"})
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    seen = []
    hook = generator.register_forward_pre_hook(
        lambda *_: seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)))
    try:
        fp32 = list(render_frames(generator, codes[:2], batch_size=1))
        render_float(generator, codes[0])
        assert seen == [(False, False)] * 3
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, True)
        seen.clear()
        list(render_frames(generator, codes[:1], precision=torch.bfloat16))
        assert seen == [(True, True)]  # autocast: TF32 does not apply, the caller's flags stay
    finally:
        hook.remove()
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    monkeypatch.setattr(torch_flags, "TF32_DEVICE_TYPES", {"cuda"})
    assert all(np.array_equal(a, b) for a, b in zip(fp32, render_frames(generator, codes[:2], batch_size=1)))


def test_codes_go_to_a_gpu_from_pinned_memory_without_blocking(monkeypatch):
    """A copy from pageable memory blocks until the stream is idle: the previous batch's frames crossing to
    the host (`_copy_to_host`) and the next batch's kernels never overlapped. Each batch of codes must be
    pinned once and copied with non_blocking=True. (No GPU here: the generator, the pinning and the copy
    from pinned memory are stand-ins that log what they were asked; the frames' copy is the CPU's.)"""
    log = []

    class Pinned:
        def __init__(self, tensor):
            self.tensor = tensor

        def to(self, *args, **kwargs):
            log.append(("to", args, kwargs))
            return self.tensor  # the "device" tensor: on the CPU, for the stand-in generator

    def pin_memory(self, *args, **kwargs):
        log.append(("pin", self.dtype, tuple(self.shape)))
        return Pinned(self.clone())

    class GpuGenerator:
        def parameters(self):
            yield types.SimpleNamespace(device=torch.device("cuda:1"))

        def __call__(self, latent, noise=None, truncation=1.0, truncation_latent=None):
            log.append(("render", latent.dtype, tuple(latent.shape)))
            return latent[:, :3, :2].reshape(len(latent), 3, 2, 1).expand(-1, -1, -1, 2).float()

    monkeypatch.setattr(torch.Tensor, "pin_memory", pin_memory)
    codes = [np.full((4, 2), v, np.float64) for v in (-1.0, 0.0, 1.0)]  # float64: made float32 before pinning
    frames = list(render_frames(GpuGenerator(), codes, batch_size=2, noise=[None]))
    assert [frame[0, 0, 0] for frame in frames] == [0, 128, 255]
    assert log == [("pin", torch.float32, (2, 4, 2)), ("to", (torch.device("cuda:1"),), {"non_blocking": True}),
                   ("render", torch.float32, (2, 4, 2)),
                   ("pin", torch.float32, (1, 4, 2)), ("to", (torch.device("cuda:1"),), {"non_blocking": True}),
                   ("render", torch.float32, (1, 4, 2))]


def test_codes_go_to_the_cpu_without_pinning(demo_codes_and_generator, monkeypatch):
    codes, generator = demo_codes_and_generator
    expected = np.stack(list(render_frames(generator, codes, batch_size=2)))

    def no_pinning(self, *args, **kwargs):
        raise AssertionError("pinned on the CPU")

    monkeypatch.setattr(torch.Tensor, "pin_memory", no_pinning)
    np.testing.assert_array_equal(np.stack(list(render_frames(generator, codes, batch_size=2))), expected)


class _AutocastOfTorch21(torch.autocast):
    """`torch.autocast` as torch 2.1 builds it (torch/amp/autocast_mode.py there): MPS is no autocast device
    (2.5 added it, float16 only; 2.6 bfloat16); CPU autocast takes bfloat16 only: another dtype warns and
    turns autocast off, and entering the context then raises (torch.set_autocast_cpu_dtype refuses it)."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if device_type not in ("cpu", "cuda"):
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        self.refused = device_type == "cpu" and dtype != torch.bfloat16
        if self.refused:
            import warnings

            warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling autocast.", stacklevel=2)
        super().__init__(device_type, dtype=dtype, enabled=enabled and not self.refused, cache_enabled=cache_enabled)

    def __enter__(self):
        if self.refused:
            raise RuntimeError("Currently, AutocastCPU only support Bfloat16 as the autocast_cpu_dtype")
        return super().__enter__()


def test_a_precision_torchs_autocast_cannot_run_on_the_device_is_refused_before_any_work(monkeypatch):
    """`--device mps --precision fp16` on torch 2.1-2.4 failed at the first frame as an internal error (no
    MPS autocast), and so did `--precision fp16` on torch 2.1's CPU, after torch's raw warning ("internal
    error: RuntimeError: Currently, AutocastCPU only support Bfloat16", seen with torch 2.1.2). Now a usage
    error, before any work, that names the precision that works."""
    from interp_cli.render import pick_device

    monkeypatch.setattr(torch, "autocast", _AutocastOfTorch21)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    mps = pick_device("mps")
    for name in ("fp16", "bf16"):
        with pytest.raises(UsageError) as refused:
            pick_precision(name, mps)
        assert str(refused.value) == (f'precision="{name}": torch {torch.__version__} has no mixed precision '
                                      f'(autocast) on MPS; use precision="fp32"')  # a Python caller's words
    with pytest.raises(UsageError, match=r'^precision="fp16": torch \S+ cannot autocast to fp16 on CPU; use '
                                         r'precision="fp32"$'):
        pick_precision("fp16", CPU)
    assert pick_precision("bf16", CPU) is torch.bfloat16
    assert pick_precision("fp32", mps) is None and pick_precision("auto", mps) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # a GPU before Ampere, torch < 2.3
    with pytest.raises(UsageError, match='^precision="bf16": this GPU has no bfloat16 support; use precision="fp32"$'):
        pick_precision("bf16", torch.device("cuda"))
    assert pick_precision("fp16", torch.device("cuda")) is torch.float16


def test_the_precision_refusal_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch):
    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner

    monkeypatch.setattr(torch, "autocast", _AutocastOfTorch21)
    out = tmp_path / "m.gif"
    result = cli_runner().invoke(cli, [str(ROOT / "examples" / "demo_a.png"), str(ROOT / "examples" / "demo_b.png"),
                                       "--weights", "demo", "--device", "cpu", "--precision", "fp16", "--steps", "2",
                                       "-o", str(out), "--debug"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"interp: error: --precision fp16: torch {torch.__version__} "
                                                  "cannot autocast to fp16 on CPU; use --precision fp32"]
    assert list(tmp_path.iterdir()) == []


def test_precisions_checked_in_threads_at_once_leave_the_callers_warning_filters():
    """Sessions made at once in a service's threads each ask whether autocast runs their precision, with torch's
    "Disabling autocast" warning silenced meanwhile: two such checks overlapping put back each other's filters,
    and the process was left ignoring every warning (reproduced with threads switching often, as here)."""
    import warnings

    from tests.races import at_once

    before = list(warnings.filters)

    def check_precisions():
        for _ in range(1000):
            autocast_refusal(torch.device("cpu"), torch.bfloat16)

    def filters_kept():
        assert list(warnings.filters) == before

    at_once(check_precisions, filters_kept, rounds=20)


def test_auto_picks_cuda_then_mps_then_the_cpu(monkeypatch):
    """`--device auto` (the default): a CUDA GPU where there is one, else Apple's MPS, else the CPU; never MPS on a
    machine whose torch has the MPS backend but no Apple GPU (every torch has `torch.backends.mps`)."""
    from interp_cli.render import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == CPU and pick_device(None) == CPU
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("AUTO") == torch.device("cuda")


def test_each_grey_level_of_a_frame_comes_from_its_own_value_in_minus_one_to_one():
    """A frame's 256 grey levels: -1 is black, 1 is white, and level k comes from k / 127.5 - 1, with values past
    the ends clipped (a colour scaled by 128.5 moved most levels by one and clipped the brightest)."""
    from interp_cli.render import to_uint8

    levels = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    images = torch.cat([levels, torch.tensor([-3.0, 2.5, 0.998, 1.002])]).reshape(1, 1, 1, -1).expand(1, 3, 2, -1)
    frame = to_uint8(images.float())
    assert frame.shape == (1, 2, 260, 3) and frame.dtype == np.uint8
    assert frame[0, 1, :256, 2].tolist() == list(range(256))
    assert frame[0, 0, 256:, 0].tolist() == [0, 255, 255, 255]
