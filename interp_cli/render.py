"""Render W+ codes to uint8 frames: device choice, batching, float -> uint8 on the device."""

from __future__ import annotations

import contextvars
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext

import numpy as np
import torch

from interp_cli.errors import UsageError, caught_warnings, option
from interp_cli.limits import PRECISIONS
from interp_cli.stops import deferred
from interp_cli.models.stylegan2 import Generator
from interp_cli.torch_flags import strict_fp32

DEVICES = ("auto", "cpu", "cuda", "mps")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def pick_device(name: str | None = "auto") -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then CPU; an explicit device must exist (UsageError otherwise)."""
    name = (name or "auto").lower()
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    # The name is judged before the machine: torch.device() takes every type torch knows (xpu, meta, hip,
    # vulkan, ...), which then failed deep in loading as an internal error, and "cuda:x" on a machine without
    # CUDA was told to use the CPU when the name itself was the slip.
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in DEVICES:
        raise UsageError(f"{option('device', name)}: not a device interp runs on "
                         f"(choose auto, cpu, cuda, cuda:N or mps)")
    base = device.type
    if base == "cuda" and not torch.cuda.is_available():
        if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
            # The CPU-only wheel (README's first line): a GPU and its driver may well be there, so "not on this
            # machine" would be contradicted by nvidia-smi; only another torch build can use it.
            raise UsageError(f"{option('device', name)}: this PyTorch ({torch.__version__}) is a CPU-only build "
                             f"(use {option('device', 'cpu')}; for an NVIDIA GPU, install a CUDA build of "
                             f"PyTorch: https://pytorch.org/get-started/locally/)")
        raise UsageError(f"{option('device', name)}: CUDA is not available on this machine "
                         f"(use {option('device', 'cpu')})")
    if base == "mps" and not mps_ok:
        raise UsageError(f"{option('device', name)}: Apple MPS is not available on this machine "
                         f"(use {option('device', 'cpu')})")
    # A device number the machine lacks would pass here and fail at the first tensor, as CUDA's raw
    # "invalid device ordinal"; MPS has one device.
    count = torch.cuda.device_count() if device.type == "cuda" else 1
    if device.type in ("cuda", "mps") and device.index is not None and device.index >= count:
        there = ", ".join(f"{device.type}:{i}" for i in range(count))
        raise UsageError(f"{option('device', name)}: no such device; this machine has {count} {base.upper()} "
                         f"device{'s' if count != 1 else ''} ({there})")
    return device


def pick_precision(name: str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for rendering on `device`, or None for plain float32.

    `auto` is bfloat16 on CUDA GPUs with native bf16, Ampere (compute capability 8.0) and newer (same
    exponent range as float32, so no overflow in the modulated convs; ~0.5 of an 8-bit grey level from
    float32), and float32 elsewhere. Older GPUs (Volta, Turing) only emulate bf16, slower than float32,
    which `torch.cuda.is_bf16_supported()` counts as support (and it asks about the current device, not
    `device`); fp16 is not chosen for them unasked, for the overflow bf16 avoids (benchmarks/README.md).
    On CPU, bf16 is only fast on chips with AVX-512 BF16 / AMX, and float32 keeps the output identical
    to the reference implementation. An explicit choice is used as given.
    """
    name = (name or "auto").lower()
    if name not in PRECISIONS:
        raise UsageError(f"{option('precision', name)}: choose one of {', '.join(PRECISIONS)}")
    if name == "auto":
        native = device.type == "cuda" and tuple(torch.cuda.get_device_capability(device)) >= (8, 0)
        return torch.bfloat16 if native else None
    dtype = _DTYPES.get(name)
    refusal = None if dtype is None else autocast_refusal(device, dtype)
    if refusal:
        raise UsageError(f"{option('precision', name)}: {refusal}; use {option('precision', 'fp32')}")
    return dtype


def autocast_refusal(device: torch.device, dtype: torch.dtype) -> str | None:
    """Why torch's autocast would not run `dtype` on `device` (None: it would), asked before any work.

    torch 2.1 to 2.4 have no autocast for MPS at all (`torch.autocast("mps")` raises "User specified an
    unsupported autocast device_type 'mps'", mid-render, an internal error); 2.5 takes only float16 there
    (pytorch/pytorch#99272, #139390); torch 2.1's CPU autocast takes only bfloat16 (fp16 warned, then
    failed at the first frame: "Currently, AutocastCPU only support Bfloat16"). Constructing the context
    tells both, on any machine. On CUDA, bf16 where `is_bf16_supported()` says no raises at the first
    frame (the same check as autocast's: the current device).
    """
    if device.type == "cuda":
        if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            return "this GPU has no bfloat16 support"
        return None
    # "Disabling autocast": told here as the refusal instead. Through `caught_warnings`, one thread at a time: two
    # Sessions made at once in threads (precision="bf16") left the caller's process ignoring every warning.
    with caught_warnings(("ignore", Warning)):
        try:
            context = torch.autocast(device.type, dtype=dtype)
        except RuntimeError:
            return f"torch {torch.__version__} has no mixed precision (autocast) on {device.type.upper()}"
    if not getattr(context, "_enabled", True):
        return f"torch {torch.__version__} cannot autocast to {precision_name(dtype)} on {device.type.upper()}"
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def autocast(device: torch.device, dtype: torch.dtype | None):
    """A context running the networks in `dtype` (None: float32, no autocast)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def _strict_if_fp32(device: torch.device, dtype: torch.dtype | None):
    """Strict float32 (no TF32) on CUDA when rendering in float32: `--precision fp32` means fp32.
    Held per batch (`torch_flags`), never across a yield, so nothing stays set while frames wait."""
    return strict_fp32(device) if dtype is None else nullcontext()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """`[B, 3, H, W]` in [-1, 1] -> `[B, H, W, 3]` uint8: (x + 1) * 127.5, clipped and rounded on the device."""
    return _uint8_on_device(images).cpu().numpy()


def _uint8_on_device(images: torch.Tensor) -> torch.Tensor:
    """`to_uint8` without the copy: the `[B, H, W, 3]` uint8 tensor on the images' device (4x less to copy)."""
    scaled = ((images.float() + 1) * 127.5).clamp_(0, 255).round_()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def _copy_to_host(frames: torch.Tensor):
    """Start copying uint8 frames to the host: (a function that waits for them as `[B, H, W, 3]`
    numpy, whether the copy runs behind the caller's back).

    From a CUDA device the copy goes into pinned memory without blocking, so the caller can queue
    the next batch's kernels before waiting: the GPU then renders batch k+1 while batch k crosses
    the bus and the host hands it on. Elsewhere the copy is made at once.
    """
    if frames.device.type == "cuda":
        # The copy runs on the current stream of the frames' device, and the event must be recorded
        # on that stream: a bare `record()` uses the current device's, which in `render_ahead`'s
        # thread is cuda:0 whatever --device says, so with cuda:1 `wait` returned before the copy ended.
        with torch.cuda.device(frames.device):
            host = torch.empty(frames.shape, dtype=torch.uint8, pin_memory=True)
            host.copy_(frames, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record(torch.cuda.current_stream(frames.device))

        def wait() -> np.ndarray:
            copied.synchronize()
            return host.numpy()  # the array keeps `host` (and its pinned block) alive

        return wait, True
    array = frames.cpu().numpy()
    return (lambda: array), False


def _codes_to_device(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """A batch of codes `[B, n_latent, D]` as float32 on `device`.

    To a CUDA device the batch is pinned, once, and copied without blocking. A copy from pageable memory
    is a blocking one in torch: it waits for everything already queued on the stream (the previous batch's
    kernels and its frames' copy to the host, `_copy_to_host`), so the host could not queue this batch's
    kernels behind them and the two never overlapped. torch's pinned-memory pool keeps the block until the
    copy has ended, so a later batch never overwrites it mid-copy. Elsewhere (CPU, MPS) nothing changes.
    """
    codes = torch.from_numpy(batch)
    if device.type == "cuda":
        return codes.to(torch.float32).pin_memory().to(device, non_blocking=True)
    return codes.to(device=device, dtype=torch.float32)


def _batches(codes: Iterable[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    batch: list[np.ndarray] = []
    for code in codes:
        batch.append(code)
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


@torch.no_grad()
def render_frames(generator: Generator, codes: Iterable[np.ndarray], *, batch_size: int = 4,
                  noise: Sequence[torch.Tensor | None] | None = None, truncation: float = 1.0,
                  truncation_latent: torch.Tensor | None = None,
                  precision: torch.dtype | None = None) -> Iterator[np.ndarray]:
    """Stream frames `[H, W, 3]` uint8 for a stream of codes `[n_latent, D]`, `batch_size` at a time.

    Only one batch of codes and images is alive at once (two on a GPU, whose previous batch is
    copied to the host while the next one renders), so memory does not grow with the number of
    frames. `noise` is the per-layer noise shared by every frame (no flicker). `precision`:
    autocast dtype (see `pick_precision`), None for float32.
    """
    device = next(generator.parameters()).device
    if noise is None:
        noise = generator.make_noise("const", device=device)
    if truncation_latent is not None:
        truncation_latent = truncation_latent.to(device)
    waiting = None  # the previous batch's frames, still on their way to the host
    for batch in _batches(codes, max(1, int(batch_size))):
        latent = _codes_to_device(batch, device)
        with autocast(device, precision), _strict_if_fp32(device, precision):
            images = generator(latent, noise=noise, truncation=truncation, truncation_latent=truncation_latent)
        ready, behind = _copy_to_host(_uint8_on_device(images))
        del images
        if waiting is not None:
            yield from waiting()
            waiting = None
        if behind:
            waiting = ready  # handed on after the next batch is queued
        else:
            yield from ready()
    if waiting is not None:
        yield from waiting()


def render_float(generator: Generator, code: np.ndarray, *, noise=None, truncation: float = 1.0,
                 truncation_latent: torch.Tensor | None = None, precision: torch.dtype | None = None) -> np.ndarray:
    """One code `[n_latent, D]` -> the raw float image `[3, H, W]` (no clipping), for `.npy` output."""
    device = next(generator.parameters()).device
    with torch.no_grad(), autocast(device, precision), _strict_if_fp32(device, precision):
        latent = torch.from_numpy(np.ascontiguousarray(code, dtype=np.float32))[None].to(device)
        img = generator(latent, noise=noise, truncation=truncation, truncation_latent=truncation_latent)
    return img[0].float().cpu().numpy()


def compile_generator(generator: Generator, log=None, compiler=None):
    """`generator` through `torch.compile` where that works, else the generator itself: a callable
    with the generator's signature. A compiler that is missing or fails (on the first call, or on a
    new shape) is reported once through `log` and every later call runs eagerly; the numbers are
    the same either way. For measuring on GPUs (benchmarks/device_check.py); the CLI runs eagerly.
    `compiler`: `torch.compile` unless given (tests give one that fails).
    """
    try:
        compiled = (compiler or torch.compile)(generator, dynamic=False)
    except Exception as err:  # e.g. no compile support on this platform
        if log is not None:
            log(f"torch.compile unavailable ({type(err).__name__}: {err}); rendering eagerly")
        return generator
    state = {"compiled": True}

    def run(*args, **kwargs):
        if state["compiled"]:
            try:
                return compiled(*args, **kwargs)
            except Exception as err:  # compilation errors come in many types
                state["compiled"] = False
                if log is not None:
                    log(f"torch.compile failed ({type(err).__name__}: {' '.join(str(err).split())[:200]}); "
                        "rendering eagerly")
        return generator(*args, **kwargs)

    return run


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


def render_ahead(frames: Iterable[np.ndarray], depth: int = 8) -> Iterator[np.ndarray]:
    """Yield `frames` while a background thread already renders the next ones (at most `depth` wait).

    Writing a frame (x264 or GIF encoding, PNG compression) and rendering the next one then
    overlap: on a GPU the encoder is the slower half, on a CPU the network keeps running while
    the frame is piped to ffmpeg. Order is kept, memory stays bounded by `depth` frames, an
    error in the renderer is raised here, and closing this iterator (or an error in the caller)
    stops the renderer after the frame it is working on. `INTERP_RENDER_AHEAD=0` in the
    environment turns the thread off (for measuring what it gains).
    """
    if os.environ.get("INTERP_RENDER_AHEAD", "1") == "0":
        # Off: render each frame when it is asked for (the A/B baseline in benchmarks/README.md).
        yield from frames
        return
    ready: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    # OpenMP's thread count is per thread: a new thread starts at one per core, whatever the caller set with
    # torch.set_num_threads, and oneDNN's convolutions there took both cores of a caller that had asked for one.
    threads = torch.get_num_threads()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            torch.set_num_threads(threads)
            for frame in frames:
                if not hand_over(frame):
                    return
            hand_over(_DONE)
        except BaseException as error:  # handed to the consumer, who raises it
            hand_over(_Failed(error))

    # The frames are made in the caller's context (contextvars): a new thread starts with an empty one, and a
    # message made there would name options in a Python caller's words inside `interp` (errors.cli_words).
    context = contextvars.copy_context()
    worker = threading.Thread(target=context.run, args=(produce,), name="interp-render", daemon=True)
    try:
        # A stop landing inside start() (it waits for the thread to run) raised before the `try` once left the
        # thread rendering, never stopped nor joined: at exit it was cut down mid-kernel ("terminate called
        # without an active exception", SIGABRT, after the caller had its exception). Held for these lines.
        with deferred():
            worker.start()
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        # Let the renderer finish its current frame: torch must not be mid-kernel at interpreter exit.
        if worker.ident is not None:  # None: start() itself failed (no thread could be made)
            worker.join()
