"""Pivotal tuning (`--tune N`): fit a copy of the generator to the morph's photos, the codes held fixed.

e4e's codes are soft, and `--refine` can only move a code within what the generator can draw.
Pivotal tuning (Roich et al. 2021, arXiv 2106.05744) moves the generator instead: the codes
(after encoding and `--refine`) are the *pivots*, and a few Adam steps on a copy of the
synthesis weights make G(pivot) reproduce each photo. Here one copy is tuned on all the morph's
inputs at once (two or more faces, chains included), and every frame is rendered with it.

Two things keep the in-betweens as plausible as before:

- the reconstruction loss is plain L2 (refine.py's Laplacian-pyramid term is available as
  `LAP_WEIGHT`, but measured worse here: it left the tuned ends softer);
- a locality term: every step, one code *between* the pivots (a random point on the path between
  two consecutive inputs, away from both ends) or off the path (a pivot moved toward a code drawn
  from the mapping network, as the paper does) is rendered by the original and by the tuned
  generator, and their difference is penalised. The tuned copy may change what the pivots draw,
  and as little else as it can. (The original's images of the steps' codes are rendered a batch of
  steps ahead, `_LocalityPool`.)

The loaded generator is never changed (it is deep-copied; its weights are also the locality
reference), and nothing here writes to a file: the tuned weights live in memory, and the caller
may cache them (`TunedCache`, beside the latent cache).

Everything runs where the generator lives (CPU, CUDA or MPS), in float32.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import platform
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

from interp_cli.cache import TUNED_CACHE_MB_ENV, TUNED_CACHE_NAME, TUNED_DEFAULT_CACHE_MB
from interp_cli.checks import check_number, check_positive, check_seed, check_tune_steps, number_word
from interp_cli.cache_folders import CacheBound, CacheWarnings, cache_dir, mark_used
from interp_cli.errors import InterpError, env_setting, option, speaking_to_cli
from interp_cli.failures import is_out_of_memory
from interp_cli.claims import claimed_in_turn, show_progress
from interp_cli.files import atomic_write, clean_stale_temps, remove_if_same
from interp_cli.optim import FlatAdam
from interp_cli.limits import TUNE_DEFAULT_STEPS
from interp_cli.models.checkpoint import all_finite
from interp_cli.refine import default_levels, deterministic, laplacian_loss, resize_targets, seeded
from interp_cli.stops import raise_swallowed
from interp_cli.torch_flags import strict_fp32

# Part of the tuned-weights cache key: bump when a change here makes `tune_generator` return other
# weights for the same inputs and settings. 3: FlatAdam's square root is 1 / rsqrt (optim.py). 4: with `.npy`
# inputs, the in-between locality codes lie on the morph's own segments (`path`), not the pivots' then the codes'.
# 5: `path` is the morph's keyframes as shown (a loop's closing segment, a --layers mask), each segment and
# each input drawn on once (`a b a` counted its a twice).
METHOD_VERSION = 5

# Defaults measured on the demo model's held-out faces (benchmarks/README.md, "--tune"):
DEFAULT_STEPS = TUNE_DEFAULT_STEPS  # defined in limits.py, so `--help` needs no torch
DEFAULT_LR = 2e-3
LOCALITY_WEIGHT = 0.2
# How far off the path the PTI-style locality codes go, as a fraction of the distance from the
# pivot to a random mapped code (the paper uses a fixed distance in FFHQ's W; a fraction carries
# over to any model's scale).
LOCALITY_REACH = 0.5
# Up to this output size a step renders the pivots and its locality code in one batch. Larger models
# are tuned on their image at this size (see `_render`), one image per backward pass.
ONE_PASS_UP_TO = 256
# Weight of the Laplacian-pyramid term beside the L2 term (refine.py's loss uses 1). Measured on the
# demo model (benchmarks/README.md): with the pyramid term (1, 4, 0.25) the tuned ends came out
# *softer* than e4e's (sharpness 0.93-0.96 of the inputs'), with plain L2 as sharp as the inputs.
LAP_WEIGHT = 0.0


def _loss(rendered: torch.Tensor, target: torch.Tensor, levels: int) -> torch.Tensor:
    """Per-image L2 + LAP_WEIGHT x Laplacian-pyramid L1 (refine.py's loss, reweighted): `[B]`."""
    l2 = (rendered - target).pow(2).flatten(1).mean(1)
    if not LAP_WEIGHT:
        return l2
    return l2 + LAP_WEIGHT * laplacian_loss(rendered, target, levels, reduction="none")


def tunable_parameters(generator: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """The synthesis network's parameters: everything but the mapping MLP (`style.*`), which W+
    codes never pass through."""
    return [(name, p) for name, p in generator.named_parameters() if not name.startswith("style.")]


# Adam's first step moves every weight by about the full rate whatever its gradient: at the full
# rate from the start, `--tune 4` took a demo face from 27.5 to 21.2 dB. A warm-up of at least this
# many steps keeps short runs near the loaded weights.
MIN_WARMUP_STEPS = 10


def _render(generator: torch.nn.Module, codes: torch.Tensor, noise) -> torch.Tensor:
    """What tuning compares: the generator's image, or for models larger than `ONE_PASS_UP_TO` px its
    image at that size, the RGB skip output of the `ONE_PASS_UP_TO` px block (the layers above it only
    add finer detail to it). Tuning a 1024 px generator in full kept one image's activations: 3.3 GB
    peak RSS even with every large layer recomputed in the backward pass. The layers above
    `ONE_PASS_UP_TO` px are left as loaded (see benchmarks/README.md)."""
    if generator.size <= ONE_PASS_UP_TO:
        return generator(codes, noise=noise)
    return generator.image_at(codes, noise, ONE_PASS_UP_TO)


def _lr_at(step: int, steps: int, lr: float) -> float:
    # Linear warm-up (see MIN_WARMUP_STEPS) and a cosine ramp-down over the last quarter, so the
    # result does not depend on exactly where the budget ends.
    ramp_up = min(1.0, (step + 1) / max(MIN_WARMUP_STEPS, 0.1 * steps))
    ramp_down = min(1.0, (1.0 - step / steps) / 0.25)
    return lr * ramp_up * (0.5 - 0.5 * math.cos(ramp_down * math.pi))


def _locality_codes(anchors: torch.Tensor, segments: tuple[torch.Tensor, torch.Tensor], mapped: torch.Tensor,
                    generator: torch.Generator) -> torch.Tensor:
    """Codes near the anchors but not on them: a random point on each of the morph's segments (`starts`,
    `ends`: `[S, n_latent, D]` each; t in [0.25, 0.75]), and each anchor moved `LOCALITY_REACH` of the way
    toward a mapped random code (`mapped`, one a row)."""
    starts, ends = segments
    codes = []
    if len(starts):
        t = torch.rand(len(starts), 1, 1, generator=generator, dtype=torch.float32).to(anchors.device)
        t = 0.25 + 0.5 * t
        codes.append(torch.lerp(starts, ends, t))
    codes.append(torch.lerp(anchors, mapped[:, None, :].expand_as(anchors), LOCALITY_REACH))
    return torch.cat(codes)


def _distinct(*rows: torch.Tensor) -> list[int]:
    """The index of each row's first equal (equal in every tensor given), each once, in order: an input
    named twice (`a b a`) is one photo, tuned to and kept local once, not with twice the others' weight."""
    kept: list[int] = []
    for i in range(len(rows[0])):
        if not any(all(torch.equal(r[i], r[j]) for r in rows) for j in kept):
            kept.append(i)
    return kept


def segments_of(path: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct segments between consecutive codes of `path`, as `(starts, ends)` stacks: a segment run
    both ways (`a b a`, a two-face `--loop`'s return) is drawn on once, one of no length never."""
    pairs: list[tuple[int, int]] = []
    for i in range(len(path) - 1):
        a, b = path[i], path[i + 1]
        same = any(torch.equal(a, path[j]) and torch.equal(b, path[k]) or torch.equal(a, path[k]) and
                   torch.equal(b, path[j]) for j, k in pairs)
        if not same and not torch.equal(a, b):
            pairs.append((i, i + 1))
    starts, ends = [j for j, _ in pairs], [k for _, k in pairs]
    return path[starts], path[ends]


# The original generator's images of the locality codes are rendered ahead, this many per pass (one
# small batch instead of a pass per step: at 64 px a pass costs mostly per-layer overhead).
POOL_BATCH = 16


class _LocalityPool:
    """One locality code per step, drawn at random from `_locality_codes` (each step's own random
    mapped codes), and what the *original* generator draws for it: `take(step)` gives that step's
    `[1, n_latent, D]` code and `[1, 3, S, S]` image.

    Drawn and rendered `POOL_BATCH` steps at a time, as the steps reach them, so at most one batch is
    held whatever the step count: the whole pool drawn up front held `steps` images (`--tune 50000`
    took 1.4 GB before its first step; 786 KB a step at 1024 px, whose images are 256 px). Each step
    uses its own code once, so nothing is gained by keeping the past ones. The codes come from `draw`
    in the same order, and each batch renders the same slice as the up-front pool did, so the tuned
    weights are bit for bit those of the up-front pool (tests/test_tune.py)."""

    def __init__(self, generator: torch.nn.Module, anchors: torch.Tensor, segments: tuple[torch.Tensor, torch.Tensor],
                 steps: int, noise, draw: torch.Generator):
        self.generator, self.anchors, self.segments = generator, anchors, segments
        self.steps, self.noise, self.draw = steps, noise, draw
        self.batch = POOL_BATCH if generator.size <= ONE_PASS_UP_TO else 1
        self.start = 0
        self.codes = self.images = None
        self.held = 0  # the most images held at once (for the tests)

    @torch.no_grad()
    def _fill(self, start: int) -> None:
        generator, anchors = self.generator, self.anchors
        device = anchors.device
        codes = []
        for _ in range(start, min(self.steps, start + self.batch)):
            z = torch.randn(anchors.shape[0], generator.style_dim, generator=self.draw, dtype=torch.float32)
            z = z.to(device)
            candidates = _locality_codes(anchors, self.segments, generator.style(z), self.draw)
            codes.append(candidates[int(torch.randint(len(candidates), (1,), generator=self.draw))])
        self.codes = torch.stack(codes)
        self.images = _render(generator, self.codes, self.noise)
        self.start = start
        self.held = max(self.held, len(self.images))

    def take(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.codes is None or not self.start <= step < self.start + len(self.codes):
            if step != (0 if self.codes is None else self.start + len(self.codes)):
                raise ValueError("locality codes are drawn in step order")
            self._fill(step)
        i = step - self.start
        return self.codes[i:i + 1], self.images[i:i + 1]


@torch.inference_mode(False)  # gradients even inside a caller's inference_mode, as `refine.refine_codes`
def tune_generator(generator: torch.nn.Module, targets: torch.Tensor | None, pivots: torch.Tensor, *,
                   steps: int = DEFAULT_STEPS, lr: float = DEFAULT_LR, locality: float = LOCALITY_WEIGHT,
                   noise: Sequence[torch.Tensor | None] | None = None, seed: int = 0,
                   fixed: torch.Tensor | None = None, path: torch.Tensor | None = None,
                   progress: Callable[[int, float], None] | None = None) -> torch.nn.Module:
    """A tuned copy of `generator`; `generator` itself is left exactly as it was.

    `targets`: `[B, 3, H, W]` photos in [-1, 1] (resized to the generator's size); `pivots`:
    `[B, n_latent, D]`, their codes; a pivot given twice with the same target (`a b a`) counts once.
    `fixed`: optional `[K, n_latent, D]` codes that have no photo (`.npy` inputs): they join the locality
    term, so what they draw stays as it was. `path`: optional `[P, n_latent, D]`, the morph's keyframes in
    the order it visits them, as its frames show them: the codes without a photo among the pivots
    (`[photo a, code b, photo c]`), a `--layers` mask's rows kept from the first input, and for a loop the
    return to the first (`[a, b, c, a]`); the in-between locality codes are drawn on its segments (each
    once). None: the pivots, then `fixed`, in that order. `noise`: the per-layer noise the frames will be
    rendered with (None: the checkpoint's buffers).
    Objective per step: `sum_b loss(G'(pivot_b), target_b) + locality * loss(G'(w_s), G(w_s))`
    with `loss` = L2 (+ `LAP_WEIGHT` x Laplacian pyramid) and `w_s` that step's locality code (see
    `_LocalityPool`), Adam on G's synthesis weights (`tunable_parameters`), `lr` warm-up and cosine
    ramp-down. `progress(step, loss)` after every step. `seed` fixes the locality codes.
    """
    # Each keyword named as the caller passed it (as `Session.frames` names its own): "tune learning rate" and
    # "tune must be ..." named none of them; locality="0.1" failed inside the loop, and seed=1.5 ran as seed 1.
    steps = check_tune_steps(steps, "steps")
    lr = check_positive("lr", lr)
    locality = check_number("locality", locality, low=0)
    seed = check_seed(seed)
    tuned = copy.deepcopy(generator)  # fresh tensors: the original (maybe a view of the file) is never touched
    if steps == 0 or targets is None or len(targets) == 0:
        return tuned.eval().requires_grad_(False)
    device = next(generator.parameters()).device
    pivots = pivots.detach().to(device=device, dtype=torch.float32)
    targets = targets.detach().to(device=device, dtype=torch.float32)
    once = _distinct(pivots, targets)
    pivots, targets = pivots[once], targets[once]
    size = min(generator.size, ONE_PASS_UP_TO)
    target = resize_targets(targets, size)
    levels = default_levels(size)
    if noise is None:
        noise = generator.noise_buffers()
    noise = [None if n is None else n.detach().to(device) for n in noise]
    # Off the path, the locality codes surround each distinct input's code; on it, they lie on the morph's
    # own segments (the closing one of a loop included), each once.
    anchors = pivots if fixed is None else torch.cat([pivots, fixed.detach().to(device, torch.float32)])
    anchors = anchors[_distinct(anchors)]
    segments = segments_of(anchors if path is None else path.detach().to(device, torch.float32))

    params = [p for _, p in tunable_parameters(tuned)]
    tuned.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    optimizer = FlatAdam(params, lr)
    draw = seeded(seed)  # the locality codes' own generator: torch's global RNG is left alone
    # Small models: one pass for the pivots and the step's locality code (at 64 px a step's cost is
    # mostly per-layer overhead). Large ones: one image per pass, gradients accumulated, so that only
    # one image's activations are alive.
    chunk = len(pivots) + 1 if generator.size <= ONE_PASS_UP_TO else 1
    # Strict fp32 on CUDA (no TF32), as --refine and encoding (`torch_flags.strict_fp32`).
    with deterministic(device, seed), strict_fp32(device), torch.enable_grad():
        pool = _LocalityPool(generator, anchors, segments, steps, noise, draw) if locality > 0 else None
        for step in range(steps):
            raise_swallowed()  # a stop a bare `except:` swallowed (stops' module doc) ends it here
            show_progress()  # a run waiting for this tuning (`TunedCache.turn`) sees it is not suspended
            optimizer.lr = _lr_at(step, steps, lr)
            optimizer.zero_grad()
            everything, wanted = pivots, target
            if pool is not None:
                local_code, local_image = pool.take(step)
                everything = torch.cat([pivots, local_code])
                wanted = torch.cat([target, local_image])
            weight = torch.ones(len(everything), device=device, dtype=torch.float32)
            weight[len(pivots):] = locality
            recon = 0.0
            for start in range(0, len(everything), chunk):
                part = slice(start, start + chunk)
                per_image = _loss(_render(tuned, everything[part], noise), wanted[part], levels)
                (per_image * weight[part]).sum().backward()
                recon += float(per_image.detach()[:max(0, len(pivots) - start)].sum())
            optimizer.step()
            if progress is not None:
                progress(step + 1, recon / len(pivots))
    optimizer.release()
    return tuned.eval().requires_grad_(False)


@contextlib.contextmanager
def out_of_memory_told(device: torch.device):
    """Out of memory while tuning, told as tuning's: the morph's advice (a smaller --batch-size or --size)
    changes nothing here, since tuning renders each input at the model's own size whatever either says.
    Tuning holds a second copy of the synthesis weights, Adam's two moments and a backward pass (a 1024 px
    morph's peak memory is higher with --tune than without), so what helps is more memory, or no --tune."""
    try:
        yield
    except Exception as err:
        if not is_out_of_memory(err):
            raise
        elsewhere = f", tune on the CPU ({option('device', 'cpu')})" if torch.device(device).type != "cpu" else ""
        raise InterpError(f"out of memory while tuning the generator ({option('tune')} needs more memory than "
                          f"rendering); free some memory{elsewhere}, or run without {option('tune')}") from err


# --------------------------------------------------------------------------- cache

_debug = logging.getLogger(__name__).debug

# The tuned-weights cache's default bound; `INTERP_TUNE_CACHE_MB` changes it (0 turns the cache off).
DEFAULT_CACHE_MB = TUNED_DEFAULT_CACHE_MB
CACHE_MB_ENV = TUNED_CACHE_MB_ENV


# How long a run waiting for another's tuning of the same key (`TunedCache.turn`) lets that tuning show no progress
# before it tunes itself: the holder may be suspended (Ctrl-Z, SIGSTOP, a cluster's pre-emption) and never resumed.
# The holder shows progress at every tuning step, so the longest live gap is one step (with the setup before the
# first, or the entry's write after the last). A step at 1024 px takes about 6 s on 2 idle cores, and 99 s measured
# in a niced process under a load of 13 on 2 cores (benchmarks/README.md, "The tuning lock's suspended holder").
# Fifteen minutes is nine such steps: a live holder is not overtaken short of a machine far worse off (deep in swap),
# and then the waiter only tunes beside it, never wrongly (both put the same entry, atomically). A suspended holder
# costs a waiter those minutes once, against the minutes to hours a 1024 px tuning takes itself.
STALL_ENV = "INTERP_TUNE_STALL_S"
DEFAULT_STALL_S = 900.0


def stall_seconds() -> tuple[float, str | None]:
    """`STALL_ENV`'s seconds, read now (a Python caller may set it between morphs), and a warning where it is
    unreadable (then the default applies)."""
    setting = os.environ.get(STALL_ENV, "").strip()
    seconds = number_word(setting, integer=False) if setting else DEFAULT_STALL_S
    if seconds is None or not 0 <= seconds < math.inf:
        return DEFAULT_STALL_S, (f"warning: {STALL_ENV}={setting!r} is not a number of seconds (0 or more); a tuning "
                                 f"waited for may show no progress for {DEFAULT_STALL_S:g} s, its default")
    return seconds, None


def _who(holder: tuple[int, str] | None) -> str:
    """A claim's holder (`claims.claim_holder`) in a waiting line: its pid, and its host if another's (a batch's workers
    on several nodes, one cache); a thread of this process (a Python caller's) as such."""
    if holder is None:
        return "another interp"
    pid, host = holder
    if host and host != platform.node():
        return f"another interp (pid {pid} on {host})"
    return "another thread of this process" if pid == os.getpid() else f"another interp (pid {pid})"


def tune_key(**settings) -> str:
    """Cache key from everything that decides the tuned weights (see `Session.tune`)."""
    from interp_cli.cache import cache_key

    return cache_key(kind="tuned", method=METHOD_VERSION, **settings)


def _damaged_archive(handle) -> bool:
    """Whether a file torch.load failed on is itself damaged: not a zip archive (torch.save's format), or one
    whose members fail their CRC. An intact archive failed for another reason (memory, I/O): not shown damaged."""
    import zipfile

    try:
        handle.seek(0)
        with zipfile.ZipFile(handle) as archive:
            return archive.testzip() is not None
    except (zipfile.BadZipFile, EOFError):
        return True
    except Exception:  # MemoryError, OSError: the machine's trouble, which proves nothing about the file
        return False


class TunedCache:
    """Tuned synthesis weights on disk, `<dir>/tuned/<key>.pt`, least recently used evicted past a size bound.

    The tuned tensors themselves are stored (float32, `torch.save` of a dict of tensors, read back
    with `weights_only=True`; a float16 difference from the base would be half the size but lossy):
    about 10 MB for the demo model, 120 MB at 1024. A damaged or mismatched entry counts as a miss
    and is removed; a write that fails (full disk, read-only cache) warns once and the morph goes on.
    """

    def __init__(self, directory: str | os.PathLike | None = None, *, max_bytes: int | None = None,
                 warn: Callable[[str], None] | None = None, failures: CacheWarnings | None = None):
        self.directory = Path(directory).expanduser() if directory is not None else cache_dir("tuned")
        self._given = max_bytes
        self._setting = os.environ.get(CACHE_MB_ENV)
        self.bound = CacheBound(CACHE_MB_ENV, DEFAULT_CACHE_MB, TUNED_CACHE_NAME, max_bytes)
        self.max_bytes = self.bound.max_bytes
        self.warn = warn
        self._warned = False
        # Where a failed write is said: shared with the Session's latent cache, so that one cause is one line. Named
        # in that line only once a morph that tunes has begun (`in_use`): a plain morph whose cache root could not
        # be written was told of a "tuned-weights cache" it would never have used.
        self.failures = failures or CacheWarnings(warn)
        if failures is None:
            self.in_use()
        self.hits = self.misses = 0

    def in_use(self) -> None:
        """Say this cache, from now on, in the line a shared cause's first failure gives (`CacheWarnings`)."""
        self.failures.add(TUNED_CACHE_NAME, self.directory)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.pt"

    def _bound_now(self) -> None:
        """The bound as $INTERP_TUNE_CACHE_MB says it now, where none was given: a Python caller told "tuned weights
        not cached ... os.environ[...] = ..." who did so kept its Session's first reading, so its next morphs
        tuned again, uncached, and were not told why. Read again only when the setting changed, so that an
        unreadable one is still named once."""
        if self._given is None and os.environ.get(CACHE_MB_ENV) != self._setting:
            self._setting = os.environ.get(CACHE_MB_ENV)
            self.bound = CacheBound(CACHE_MB_ENV, DEFAULT_CACHE_MB, TUNED_CACHE_NAME)
            self.max_bytes, self._warned = self.bound.max_bytes, False

    def _on_use(self) -> None:
        """What each lookup and write does first: the bound as the setting says it now, this cache named in a shared
        cause's warning, and an unreadable setting told once."""
        self._bound_now()
        self.in_use()
        self.bound.note_bad_setting(self.warn)

    @torch.inference_mode(False)  # a copy of normal tensors, as `tune_generator` makes, whatever the caller's mode
    def load(self, key: str, base: torch.nn.Module) -> torch.nn.Module | None:
        """A copy of `base` with a cached entry's tuned weights, or None on a miss (`base` is untouched)."""
        tuned = copy.deepcopy(base)
        return tuned.eval().requires_grad_(False) if self.load_into(key, tuned) else None

    def load_into(self, key: str, generator: torch.nn.Module) -> bool:
        """Copy a cached entry's tensors into `generator` (a copy, never the base); False on a miss."""
        self._on_use()
        path = self._path(key)
        if self.max_bytes <= 0:
            self.misses += 1
            return False
        self._evict(self.max_bytes)  # a bound lowered since the entries were written applies now
        # Never opened unless a regular file: a FIFO there would block the open. os.path.isfile, not Path.is_file,
        # which raises for a cache folder this user cannot search or a name too long for its file system: that
        # ended a --tune morph (every batch row too) with the cache entry's path, exit 2, where it is only a miss.
        if not os.path.isfile(path):
            self.misses += 1
            return False
        # A tuning SIGKILLed while writing its entry left its temp (10 MB, 120 MB at 1024) here, which only the next
        # write's sweep removed: runs that found their entries kept it. A hit sweeps too, once per process (one
        # listing; nothing where none was left). A miss leaves it to its own write.
        clean_stale_temps(self.directory)
        try:
            handle = open(path, "rb")
        except OSError:  # evicted by another run since, or unreadable here: a miss, nothing to drop
            self.misses += 1
            return False
        wanted = dict(tunable_parameters(generator))
        with handle:
            identity = os.fstat(handle.fileno())
            try:
                state = torch.load(handle, map_location="cpu", weights_only=True)
            except Exception:
                state, damaged = None, _damaged_archive(handle)
            else:
                try:
                    damaged = not isinstance(state, dict) or set(state) != set(wanted) or any(
                        not isinstance(v, torch.Tensor) or v.shape != wanted[k].shape or not all_finite(v)
                        for k, v in state.items())
                except Exception:  # out of memory checking the values: nothing shown about the entry
                    state, damaged = None, False
        if state is None or damaged:
            self.misses += 1
            # Only an entry shown to be damaged (a truncated or foreign file) is dropped, and only while it is
            # still the file read: a failure of this machine (out of memory, an I/O error) says nothing about
            # the entry, and another run may have renamed a good one into place meanwhile. An entry kept
            # here is replaced anyway when the recomputed weights are put.
            if damaged:
                # Said under --debug, as the latent cache says its own: here the miss costs a whole tuning.
                _debug("tuned-weights cache entry %s is damaged: removed, the generator is tuned again", path)
                remove_if_same(path, identity)
            return False
        with torch.no_grad():
            for name, param in wanted.items():
                param.copy_(state[name])
        mark_used(path)
        self.hits += 1
        return True

    @contextlib.contextmanager
    def turn(self, key: str, base: torch.nn.Module) -> Iterator[torch.nn.Module | None]:
        """Around a miss's tuning of `key` and its `put`: one process at a time tunes a key. Two runs tuning the same
        photos with the same settings at once (two commands on one pair, a batch's workers with rows of one pair at
        other sizes or outputs) both tuned, for minutes at 1024 px, and the second's entry replaced the first's.
        Now the second waits for the first (said once to `warn`, the command's log), then yields the first's entry,
        loaded as `load` does; None where there is none (the first failed or was killed: this one tunes).

        A claim (`claims.claimed_in_turn`) beside the entry, `.<key>.claim-<hex>.pt`, held while tuning: a hidden
        name, never an entry, and removed when the block ends. No claim where no entry would be kept to share (the
        cache off, an entry over its bound), nor where none can be made (a read-only cache, a file system without
        flock): each run tunes, as before. A holder that shows no progress (`show_progress`, each tuning step) for
        `STALL_ENV` seconds is suspended or as good as: the waiter says so and tunes itself."""
        size = sum(p.numel() * 4 for _, p in tunable_parameters(base))
        if self.max_bytes <= 0 or size > self.max_bytes:
            yield None
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # then nothing to claim with: tuned here, and `put` says why the entry was not written
        path = self._path(key)
        holders, stalls = [], []
        stall, bad_setting = stall_seconds()

        def waiting(holder: tuple[int, str] | None) -> None:
            holders.append(holder)
            if self.warn is not None:
                if bad_setting is not None:
                    self.warn(bad_setting)
                self.warn(f"tuning: waiting for {_who(holder)} tuning these photos with these settings, to reuse its "
                          "tuned weights")

        with claimed_in_turn(path, waiting=waiting, stall=stall,
                             stalled=lambda holder, seconds: stalls.append((holder or holders[0], seconds))) as waited:
            # Looked for even when nothing was waited for: the other may have finished between the miss and the claim.
            found = self.load(key, base) if os.path.isfile(path) else None
            if found is None and waited and self.warn is not None:
                if stalls:  # suspended, or too slow to wait for: tuned here too, the same entry put by both
                    (holder, seconds), = stalls
                    self.warn(f"tuning: {_who(holder)} has shown no progress for {seconds:.0f} s (suspended?); tuning "
                              f"here ({STALL_ENV} sets how long to wait)")
                else:
                    self.warn(f"tuning: {_who(holders[0])} ended without tuned weights; tuning here")
            yield found

    def put(self, key: str, generator: torch.nn.Module) -> None:
        self._on_use()
        if self.max_bytes <= 0:
            return
        state = {name: p.detach().to("cpu", torch.float32).contiguous() for name, p in tunable_parameters(generator)}
        size = sum(t.numel() * 4 for t in state.values())
        if size > self.max_bytes:
            # Said once: every later run would tune again, minutes at 1024 px, with nothing to tell why.
            if not self._warned and self.warn is not None:
                wanted = math.ceil(size / 1e6)
                # A Python caller's line, which the next morph reads, its Session's too (`_bound_now`).
                keep = f"set {CACHE_MB_ENV} to {wanted} or more to keep them" if speaking_to_cli() else \
                    f"to keep them: {env_setting(CACHE_MB_ENV, str(wanted))}, or more"
                self.warn(f"warning: tuned weights not cached: one entry takes {wanted} MB, over the "
                          f"tuned-weights cache's bound of {self.max_bytes / 1e6:g} MB ({keep})")
            self._warned = True
            self._evict(self.max_bytes)
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._evict(self.max_bytes - size)
            with atomic_write(self._path(key)) as fh:
                torch.save(state, fh)
        except (OSError, InterpError, RuntimeError) as err:
            # torch.save reports a write that failed (ENOSPC, EFBIG) as a RuntimeError ("[enforce fail at
            # inline_container.cc:...]") whose context is the OSError: cache_not_written words that one.
            # atomic_write has removed its temp either way.
            self.failures.not_written(TUNED_CACHE_NAME, err, self.directory)

    def _evict(self, room: int) -> None:
        self.bound.evict(self.directory, ".pt", room)
