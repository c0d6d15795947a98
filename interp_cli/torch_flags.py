"""Process-wide torch backend flags that interp changes for one stage and then puts back.

`torch.backends.cudnn.deterministic` / `.benchmark` and the TF32 switches are global to the process,
not per thread or per call, while a `Session` lets morphs (refine, tune, render) run in threads at
once. Saving the flags on entry and restoring them on exit then goes wrong as soon as two uses
overlap: the first to leave restores the flags under the other, which runs on with them off. So a
setting is held by count (`shared_setting.SharedSetting`): the first user saves the flags and sets them,
the last one to leave restores what the first saw.

Strict fp32 is held per stage, not set once for the process: interp is also a library (`Session`),
and a caller's own TF32 choice outside interp's stages is left alone. Every interp stage that runs
in float32 on CUDA wants strict fp32 (encoding, --refine, --tune, and rendering when the precision is
fp32), and the bf16/fp16 renders are autocast, which TF32 does not touch, so a strict setting held by
one thread while another renders in bf16 changes nothing there.
"""

from __future__ import annotations

import contextlib

import torch

from interp_cli.shared_setting import SharedSetting, written

TF32_DEVICE_TYPES = {"cuda"}  # where TF32 exists (tests add "cpu" to see the stages hold strict fp32)
_DETERMINISTIC_CUDNN = SharedSetting()
_STRICT_FP32 = SharedSetting()


def _cudnn_choice() -> tuple[bool, bool]:
    return bool(torch.backends.cudnn.deterministic), bool(torch.backends.cudnn.benchmark)


def _set_cudnn_choice(flags: tuple[bool, bool]) -> None:
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags


def deterministic_cudnn() -> contextlib.AbstractContextManager:
    """cuDNN pinned to deterministic kernels (deterministic on, benchmark off) while any holder is inside."""
    return _DETERMINISTIC_CUDNN.held(written(_cudnn_choice, _set_cudnn_choice, (True, False)))


def _tf32() -> tuple[bool, bool]:
    return bool(torch.backends.cudnn.allow_tf32), bool(torch.backends.cuda.matmul.allow_tf32)


def _set_tf32(flags: tuple[bool, bool]) -> None:
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags


def strict_fp32(device: torch.device | str | None) -> contextlib.AbstractContextManager:
    """Float32 convolutions and matmuls computed in float32, not TF32, on a CUDA `device` (PyTorch lets
    cuDNN convolutions use TF32 by default on Ampere and newer: 10-bit mantissas, so "fp32" would not be);
    elsewhere nothing changes (TF32 is CUDA's)."""
    if device is None or torch.device(device).type not in TF32_DEVICE_TYPES:
        return contextlib.nullcontext()
    return _STRICT_FP32.held(written(_tf32, _set_tf32, (False, False)))


def cpu_threads(device: torch.device | str) -> int | None:
    """Part of the cache keys of what is optimised (`--refine` codes, `--tune` weights): on CPU, torch's
    intra-op thread count, which decides how the convolutions' and reductions' sums are split in the
    backward pass and so the result's last bits (the demo pair, `--tune 20`: 1 and 2 threads give
    weights up to ~1e-3 apart, `--refine 20` codes up to 3e-4; see benchmarks/README.md, "--tune").
    Runs with the same count are bit for bit the same; a run with another count makes its own entry
    instead of reusing one it would not have computed. None elsewhere."""
    return torch.get_num_threads() if torch.device(device).type == "cpu" else None
