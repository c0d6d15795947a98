"""The optimiser that `--refine` (refine.py) and `--tune` (tune.py) step: Adam over one flat buffer."""

from __future__ import annotations

import math

import torch


class FlatAdam:
    """Adam (Kingma & Ba; the update of `torch.optim.Adam` with its defaults) over parameters that it
    turns into views of one flat buffer, with their gradients views of another.

    Why not `torch.optim.Adam`: its first construction in a process imports `torch._dynamo`, 1.4 s
    here: a fifth of a bare `--tune` at 64 px, a tenth of a two-face `--refine 100`; and its step is a
    loop (or `foreach`) over tensors (~70 when tuning). Here a step is five operations on one flat
    tensor, and autograd accumulates every parameter's gradient straight into the flat buffer (a
    defined `.grad` is added to in place).

    The parameters must be leaf tensors; they keep their shapes, and their values live in `flat`
    from then on (so an in-place change of a parameter is one of `flat`)."""

    def __init__(self, params: list[torch.nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = params
        self.flat = torch.cat([p.detach().reshape(-1) for p in params])
        self.grad = torch.zeros_like(self.flat)
        offset = 0
        for p in params:
            n = p.numel()
            p.data = self.flat[offset:offset + n].view_as(p)
            p.grad = self.grad[offset:offset + n].view_as(p)
            offset += n
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        self.lr, self.betas, self.eps, self.steps = lr, betas, eps, 0

    def zero_grad(self) -> None:
        self.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        self.exp_avg.lerp_(self.grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.grad, self.grad, value=1 - beta2)
        # sqrt(v) as 1 / rsqrt(v), not `sqrt()`: torch's CPU float sqrt is MKL's vector sqrt, which in fresh
        # processes on a loaded machine now and then returned one thread's whole chunk to ~1e-4 (seen in 2 of
        # ~56 fresh processes traced op by op), so the same --tune gave weights up to 9e-4 apart
        # (benchmarks/README.md, "--tune").
        # rsqrt and reciprocal are torch's own IEEE division and square root: the same bits every run, and
        # within an ulp of sqrt (0 stays 0: 1 / inf).
        denom = self.exp_avg_sq.rsqrt().reciprocal_()  # one temporary
        denom.div_(math.sqrt(1 - beta2 ** self.steps)).add_(self.eps)
        self.flat.addcdiv_(self.exp_avg, denom, value=-self.lr / (1 - beta1 ** self.steps))

    def release(self) -> None:
        """Drop the gradients and the optimiser's state, and give each parameter its own storage again.

        As views of the flat buffer the parameters start at whatever offset the ones before them leave, not
        where the allocator would put them: a convolution over such a weight may take another kernel path, and
        with one thread the demo model's tuned frames came out one level apart in a pixel from the same weights
        loaded from the tuned-weights cache (freshly allocated there), so a rerun's frames differed from the
        first run's. Copied after the state is dropped, so the peak is not raised."""
        for p in self.params:
            p.grad = None
        self.grad = self.exp_avg = self.exp_avg_sq = None
        with torch.no_grad():
            for p in self.params:
                p.data = p.data.clone(memory_format=torch.contiguous_format)
        self.flat = None
