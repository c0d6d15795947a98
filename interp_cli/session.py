"""A `Session`: one loaded model on one device, and what it does to one input: load, align, encode,
refine, tune, then render codes to frames. `EncodeSettings` are the choices that decide an input's code.

The verbs in `interp_cli.pipeline` (morph, encode, render, mix) and `interp_cli.batch` drive it; a
Python caller that morphs many times keeps one, so the weights load once.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from interp_cli import cache_folders, likeness, progress as progress_bars, refine, torch_flags, tune as tuning, write
from interp_cli.cache import LatentCache, array_digest, cache_key, image_digest
from interp_cli.checks import (check_choice, check_flags, check_function, check_number, check_paths, check_refine_steps,
                               check_seed, check_tune_steps, pil_image_of, refuse_one_path)
from interp_cli.errors import (InputError, NoFaceError, UsageError, WeightsUnavailableError, face_without_alignment,
                               no_face_advice, one_line, option, python_line, shown, verb)
from interp_cli.files import Outputs, check_input_file
from interp_cli.images import load_image, to_rgb
from interp_cli.inputs import crop_name, is_code
from interp_cli.limits import CODE_MAX_ABS, NOISE_MODES, TRUNCATION
from interp_cli.npy import read_npy_record
from interp_cli.progress import Log, python_log
from interp_cli.models.checkpoint import E4EModel, load_model
from interp_cli.models.e4e import preprocess
from interp_cli.render import (pick_device, pick_precision, render_frames, to_uint8)
from interp_cli.sha256_record import file_sha256
from interp_cli.torch_flags import strict_fp32
from interp_cli.weights import resolve_weights


def w_space(generator: torch.nn.Module) -> str:
    """A digest (16 hex digits) of `generator`'s mapping network, which decides what a W code means: equal
    for every copy of a checkpoint on any device (its float32 values, not its file), and for models that
    share the mapping network but not the rest (another encoder, a fine-tuned synthesis network)."""
    mapping = generator.style.state_dict()
    return cache_key(**{name: array_digest(tensor.detach().to("cpu", torch.float32).numpy())
                        for name, tensor in mapping.items()})[:16]


def code_maker(path: str | os.PathLike) -> str | None:
    """The weights that a `.npy` code's record (`Session.code_record`) says made it: a preset's or hub file's id,
    or a local file's name; None for a code with no record, or a file that is no readable code (said later, when
    a model reads it)."""
    try:
        record = read_npy_record(path)[1]
    except (UsageError, OSError, ValueError):
        return None
    made = record.get("weights") if record is not None else None
    return made if isinstance(made, str) and made else None


def _code_shape_problem(path: Path, shape: tuple[int, ...], n: int, d: int) -> str | None:
    """Why a code of `shape` cannot be this model's W+ `[n, d]` (`[1, n, d]` taken too), or None. A single W row
    (`[d]`, `[1, d]`: what a mapping network puts out) is told how to make the W+ code that draws its face."""
    if shape in ((n, d), (1, n, d)):
        return None
    if shape in ((d,), (1, d)):
        # the path as a Python literal in double quotes, so that the shell's form quotes the line in single ones
        tiled = f'np.save("plus.npy", np.tile(np.load({json.dumps(str(path), ensure_ascii=False)}), ({n}, 1)))'
        return (f"code has shape {list(shape)}, one W row, and this model needs W+ [{n}, {d}], a row per style; "
                f"that row repeated draws its face: {python_line('import numpy as np; ' + tiled)}")
    return f"code has shape {list(shape)}, this model needs [{n}, {d}]"


@dataclass
class EncodeSettings:
    """How one input is encoded: what decides its W+ code (align, face, refine, refine_loss, seed; the cache
    key is built from the crop and these), plus where its crop is saved (save_aligned, aligned_as,
    outputs) and its place among the inputs (slot), which decide nothing about the code."""

    align: bool | None = None        # None: align when the model expects aligned faces and alignment is installed
    face: int | None = None          # which face when several are found (0-based, left to right); None = largest
    save_aligned: Path | None = None  # directory to save what the encoder saw (as NAME_aligned.png)
    aligned_as: Path | None = None   # this input's crop file, as `plan_aligned` named it (else in save_aligned)
    # The command's outputs: the crop waits there to be moved into place with them (else it is written at once).
    outputs: Outputs | None = field(default=None, compare=False, repr=False)
    refine: int = 0                  # latent optimisation steps after e4e (0 = pure e4e)
    refine_loss: str = "l2+lap"
    seed: int = 0
    cache: bool = True
    slot: tuple[int, int] = (0, 1)   # (this input's place, how many inputs): for the --face advice only
    inputs: tuple[Path, ...] = field(default=(), compare=False, repr=False)  # every input, for that advice too
    # Whether every input was given this same face (one --face N for all): only then can a face beyond this
    # photo's be advised to be picked in the others alone (with --paste one N picks in the backdrop only).
    face_everywhere: bool = False
    # Called with the photo once it is aligned, or read if it is not ([H, W, 3] uint8, as `load_image` read it), for
    # a caller that uses it again: a --paste morph's backdrop, a sheet's tile (`kept_photos`), so it is decoded once.
    keep_photo: Callable[[np.ndarray], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        # Checked where they are made, so `encode_photo(path, EncodeSettings(refine=-3))` is refused like
        # `--refine -3` instead of running no refinement at all. Kept as Python's ints: the cache key spells a numpy
        # one (refine=np.int64(2), as a loop over np.arange gives) as a string, "2", and missed the code refine=2 made.
        self.refine, self.seed = check_refine_steps(self.refine), check_seed(self.seed)
        # align="no" aligned; the cache's flags are read as they are given. Python's bools, so `align is False`
        # tells off from unset.
        self.align, self.cache = check_flags(align=self.align, cache=self.cache).values()
        check_choice("refine_loss", self.refine_loss, refine.LOSSES)

    def aligns(self, by_default: bool) -> bool:
        """Whether this input is aligned, `by_default` being the model's choice where `align` is unset."""
        return by_default if self.align is None else self.align


def _inputs_with_face(inputs: Sequence[Path], face: int, place: int) -> set[int]:
    """The places of the other inputs that have a face number `face`, for the advice beside a photo that has
    none: "--face ,5" is offered only where it picks a face that exists. Read on that refusal only, the other
    photos' faces are found as alignment finds them; a code (.npy) or a photo that cannot be read has none."""
    from interp_cli import align as alignment

    having = set()
    for i, other in enumerate(inputs):
        if i == place or is_code(other):
            continue
        try:
            if len(alignment.detect_faces(load_image(other))) > face:
                having.add(i)
        except Exception:  # its own refusal comes in its turn; here it only counts as having no face
            continue
    return having


class Session:
    """One loaded model on one device: encode inputs, then stream rendered frames.

    `weights`: preset name, local path or hub id (see `interp_cli.weights`). The encoder is kept
    only until the caller says it is done (`release_encoder`), since rendering never needs it.
    `cache_dir` is a root for its caches instead of interp's own (`cache_folders.cache_dir`): codes in latents/,
    tuned weights in tuned/ under it, as there. `log` and `progress` as for `pipeline.morph`: by default
    nothing is printed (warnings are `InterpWarning`s), and bars only with `progress=True`. One Session may
    serve morphs from several threads at once; each draws with its own (tuned) generator and noise.

    Raises `UsageError` for a bad argument, `WeightsUnavailableError` for weights not here (and not fetched),
    `CheckpointError` or `ChecksumError` for a file that is no usable or no genuine checkpoint: all
    `interp_cli.InterpError`s, one line each, with `.path` naming the weights where a file is at fault.
    """

    def __init__(self, weights: str | None = None, device: str | None = "auto", *, log: Log = python_log,
                 progress: bool = False, cache_dir: str | os.PathLike | None = None, precision: str | None = "auto"):
        # Deep inside weights.py and torch these fail as AttributeErrors ('int' object has no attribute ...).
        if weights is not None and not isinstance(weights, (str, os.PathLike)):
            raise UsageError(f"weights={shown(weights)}: give a preset name, a checkpoint path or a hub id "
                             "(a str or path)")
        if device is not None and not isinstance(device, (str, torch.device)):
            raise UsageError(f"device={shown(device)}: give auto, cpu, cuda, cuda:N or mps (a str)")
        if precision is not None and not isinstance(precision, str):
            raise UsageError(f"precision={shown(precision)}: give auto, fp32, bf16 or fp16 (a str)")
        check_paths(cache_dir=cache_dir)
        check_function("log", log)
        progress, = check_flags(progress=progress).values()
        self.log = log
        self.progress = progress  # progress bars on stderr (see interp_cli.progress)
        self.device = pick_device(str(device) if isinstance(device, torch.device) else device)
        self.precision = pick_precision(precision, self.device)  # rendering only: codes are always float32
        if self.precision == torch.float16 and self.device.type == "cpu":
            # Honoured (its numerics may be the point), but said: 1.2-1.4x slower here, 12x reported (benchmarks/).
            log(f"warning: {option('precision', 'fp16')} on a CPU is slower than fp32 (CPUs have no fast "
                f"half-precision path); the default, {option('precision', 'auto')}, renders in fp32 here")
        started = time.perf_counter()
        try:
            self.weights = resolve_weights(weights, progress=progress)
        except WeightsUnavailableError as err:  # ends with what a Session can try instead: weights="demo"
            raise err.for_command("session") from None
        # Named as typed (`ResolvedWeights.label`): the path is absolute by now, and its base name alone
        # cannot tell ./a/p.pt from ./b/p.pt.
        self.model: E4EModel = load_model(self.weights.path, name=self.weights.label).to(self.device)
        self.load_seconds = time.perf_counter() - started
        # Another root (`cache_dir`) holds the same folders as the default one: latents/ beside tuned/.
        # One line when one cause (an unwritable root, a full disk) stops both: `cache_folders.CacheWarnings`.
        failures = cache_folders.CacheWarnings(log)
        self.cache = LatentCache(cache_folders.cache_dir("latents", root=cache_dir), warn=log, failures=failures)
        self.tuned_cache = tuning.TunedCache(cache_folders.cache_dir("tuned", root=cache_dir), warn=log,
                                             failures=failures)
        self.encoder_calls = 0
        self.encoder_released = False
        self._sha256 = self.weights.sha256
        self._w_space = None  # code_record's digest, once asked for

    @property
    def weights_sha256(self) -> str:
        """The weights file's sha256 (remembered per file, so hashed at most once per file version)."""
        if self._sha256 is None:
            self._sha256 = file_sha256(self.weights.path)
        return self._sha256

    @property
    def known_weights_sha256(self) -> str | None:
        """The sha256 if it is already known (verified, remembered when the weights were resolved, or
        hashed since); never hashes. Summaries of `--no-cache` runs use this: hashing a 1.2 GB
        checkpoint only to print its digest would cost seconds that the run itself does not need.
        """
        return self._sha256

    @property
    def aligns_by_default(self) -> bool:
        # Models trained on FFHQ crops need aligned faces; the demo model's checkpoint says it does not.
        return bool(self.model.meta.get("align", not self.is_demo))

    @property
    def is_demo(self) -> bool:
        """Whether this is the shipped demo model (cartoon faces only)."""
        return self.model.meta.get("name") == "demo"

    @property
    def code_record(self) -> dict:
        """What a `.npy` code this session writes records about the model that made it (`npy.record_bytes`):
        the weights (a preset's or hub file's id, a local file's name only: a code that is passed on should not
        carry its maker's folders), and the digest of its mapping network (`w_space`). Not the file's sha256: a
        checkpoint with another encoder or a fine-tuned synthesis network (a toon model) draws the same W
        codes, and hashing a 1.2 GB file would cost `render` seconds; the digest costs milliseconds."""
        if self._w_space is None:
            self._w_space = w_space(self.model.generator)
        return {"weights": self.weights.path.name if self.weights.local else self.weights.id,
                "w_space": self._w_space}

    def release_encoder(self) -> None:
        """Free the encoder's memory: this session can then only render (and load `.npy` codes)."""
        self.model.drop_encoder()
        self.encoder_released = True

    # --- inputs -> codes ---------------------------------------------------------------------

    def load_codes(self, path: Path) -> np.ndarray:
        """A `.npy` code file -> `[n_latent, D]` float32, checked against this model."""
        check_input_file(path, "a .npy code file")
        n, d = self.model.n_latent, self.model.style_dim
        try:
            # Judged from the header first: a huge claimed shape or another file renamed .npy is refused unread.
            code, record = read_npy_record(path, check=lambda shape: _code_shape_problem(path, shape, n, d),
                                           what="a .npy code file", name=str(path))
        except OSError as err:
            raise InputError(f"{path}: not a readable .npy code file ({one_line(err)})", path) from None
        made_by = record.get("w_space") if record is not None else None  # none in a code from before records
        if made_by is not None and made_by != self.code_record["w_space"]:
            ours = self.weights.label if self.weights.local else self.weights.id
            raise InputError(f"{path}: made by other weights ({record.get('weights')}) than "
                             f"{option('weights', ours)}, whose mapping network differs: drawn here the code would "
                             f"be some other face; use the weights that made it", path)
        if code.dtype.kind != "f":  # read_npy takes any numbers; 0/1 or integers are no W code anyone wrote
            raise InputError(f"{path}: code holds {code.dtype} values, not floats (W+ codes are float32, "
                             f"as {verb('encode')} writes them)", path)
        if code.ndim == 3:
            code = code[0]
        # Judged after the cast: a float64 1e300 is finite, but float32 has no such number (it becomes inf,
        # with numpy's raw "overflow encountered in cast" warning, and every pixel NaN).
        with np.errstate(over="ignore", invalid="ignore"):
            code = np.ascontiguousarray(code, dtype=np.float32)
        if not np.isfinite(code).all():
            raise InputError(f"{path}: code contains NaN or infinite values, or values beyond float32's "
                             f"range (about ±3.4e38)", path)
        peak = float(np.abs(code).max())
        if peak > CODE_MAX_ABS:
            raise InputError(f"{path}: code holds values as large as {peak:.3g}, far outside any W+ code (they "
                             f"stay within about ±10; refused beyond ±{CODE_MAX_ABS:g}, as they draw only noise)", path)
        return code

    def _load_and_align(self, path: Path, settings: EncodeSettings, again: dict | None = None):
        """(the PIL image the encoder will see, the `AlignedFace` it was cut from or None). `again` (`_encode`'s):
        a photo aligned before, the same pixels and --face, is not searched again; what it says is said again."""
        image = load_image(path, log=self.log)
        aligned = None
        align = settings.aligns(self.aligns_by_default)
        if not align and settings.face is not None:
            raise UsageError(face_without_alignment(str(path), explicit=settings.align is False))
        if align:
            from interp_cli import align as alignment

            hint = "" if settings.align else " (alignment is on by default for this model)"
            alignment.require_alignment(f"{path}: face alignment",
                                        f"{no_face_advice()}{hint}")
            size = 1024 if self.model.size >= 1024 else 256
            # Alignment reads the photo as an array: made here, so the PIL image's memory goes before the search
            # (one copy of the photo fewer at alignment's peak), and the array is what `keep_photo` keeps.
            photo, image = np.asarray(image), None
            same = None if again is None else ("aligned", settings.face, array_digest(photo))
            try:
                aligned = again.get(same) if same is not None else None
                if aligned is None:
                    aligned = alignment.align_face(photo, output_size=size, face=settings.face, name=str(path),
                                                   log=self.log)
                if same is not None:
                    again[same] = aligned
            except NoFaceError as err:
                raise err.advised(no_face_advice()) from None
            except UsageError as err:  # --face N beyond this photo's faces
                place, count = settings.slot
                if count == 1 or settings.face is None or not settings.face_everywhere or not settings.inputs:
                    raise
                having = _inputs_with_face(settings.inputs, settings.face, place)
                if not having:  # a per-input form would only move the refusal to another photo
                    raise UsageError(f"{err}; no input has a face {settings.face}", path=path) from None
                others = tuple(settings.face if i in having else None for i in range(count))
                raise UsageError(f"{err}; give one value per input to pick in the others only, an empty place "
                                 f"meaning the largest: {option('face', others)}", path=path) from None
            if settings.keep_photo is not None:
                settings.keep_photo(photo)
            for warning in aligned.warnings:
                self.log(f"warning: {warning}")  # each names its image (and face)
            if aligned.n_faces > 1:
                other = 1 if aligned.face_index == 0 else 0
                place, count = settings.slot
                # --face N picks in every input: beside a one-face photo, only the per-input form can be followed.
                how = (f"choose with {option('face', other)}" if count == 1 else "for another, give one value per "
                       f"input: {option('face', tuple(other if i == place else None for i in range(count)))}")
                self.log(f"{path}: {aligned.n_faces} faces found, using face {aligned.face_index} "
                         f"(numbered left to right from 0; {how})")
            image = aligned.image
        elif settings.keep_photo is not None:  # a sheet's tile of an unaligned photo: as read, not decoded again
            settings.keep_photo(np.asarray(image))
        if settings.aligned_as is not None or settings.save_aligned is not None:
            crop = np.asarray(image.convert("RGB"))
            target = settings.aligned_as or settings.save_aligned / crop_name(path.stem)
            if settings.outputs is not None:
                write.stage_image(settings.outputs, target, crop)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                write.write_image(target, crop)
        return image, aligned

    def encode_path(self, path: str | os.PathLike, settings: EncodeSettings | None = None) -> np.ndarray:
        """An image or `.npy` code file -> W+ code `[n_latent, D]` float32 (latent_avg included)."""
        return self.encode_photo(path, settings)[0]

    def encode_inputs(self, paths: Sequence[str | os.PathLike],
                      settings: EncodeSettings | Sequence[EncodeSettings] | None = None, *,
                      release_encoder: bool = False, check_faces=None) -> list[tuple]:
        """`encode_photo` for several inputs; `settings` is shared or one per input.

        Every input goes through the encoder first (one progress bar), and only then is any refined
        (`EncodeSettings.refine`, a bar each): a photo that cannot be read or aligned fails before minutes of
        refining the others. `check_faces`, if given, is called with each input's `AlignedFace` (or None) in
        between, so a morph refuses faces it cannot use (`inputs.refuse_same_faces`) before refining either.
        `release_encoder=True` frees the encoder in between (`release_encoder`), so refining runs without its
        weights (1 GB at 1024 px); the session can then only render.

        Returns one `(code, AlignedFace or None, crop)` per input, in order (`encode_photo`): the float32 W+ code
        `[n_latent, style_dim]`; where the face was in the photo (None for a `.npy` code or an unaligned image);
        the crop the encoder saw, uint8 `[H, W, 3]` at the model's size (None for a code). Raises `InputError`
        (or `NoFaceError`) naming the input at fault in `.path`, `UsageError` for a bad argument."""
        paths = refuse_one_path(paths, "encode_inputs")  # a generator, read once
        per_input = settings if isinstance(settings, Sequence) else [settings] * len(paths)
        if len(per_input) != len(paths):  # zip would quietly encode only the shorter list's inputs
            raise UsageError(f"encode_inputs: {len(per_input)} settings for {len(paths)} inputs; give one "
                             "EncodeSettings for all, or one per input")
        # A miss whose put never comes (a photo that fails after another's miss, `check_faces` refusing, a stop) is
        # no code still to be written once this ends: `LatentCache.lookups`.
        with self.cache.lookups():
            encoded, calls = [], self.encoder_calls
            # A photo named twice (`a b a`) is aligned and encoded once (`_encode`'s `again`): the same pixels give the
            # same crop and code. Its second search was 11 % of a demo morph's CPU, and with its second encoding (no
            # cache) 15 % of a 1024 px one's (benchmarks/README.md). Only a name given twice is looked for (hashed).
            named = Counter(str(path) for path in paths)
            again: dict = {}
            with progress_bars.bar(len(paths), "encoding", unit="image", enabled=self.progress) as bar:
                for path, these in zip(paths, per_input):
                    encoded.append(self._encode(Path(path), these or EncodeSettings(),
                                                again if named[str(path)] > 1 else None))
                    bar.update()
                if self.encoder_calls == calls:
                    # Nothing encoded (every code from the cache or a .npy): no "encoding: 2/2 images" left to read
                    # as work done, above the verb's "2 of 2 codes reused from the cache" (`pipeline._say_reused`).
                    bar.drop()
            if check_faces is not None:
                check_faces([alignment for _, alignment, _, _ in encoded])
            if release_encoder:
                self.release_encoder()
            # A photo given twice (`a b a`) is refined once: its two crops and codes are the same, and so are their
            # refinements (one seed), which cost minutes each at 1024 px; the cache took neither, as it is written
            # only once a code is refined.
            refined: dict[tuple, np.ndarray] = {}
            results = []
            for code, alignment, target, to_refine in encoded:
                if to_refine is None:
                    results.append((code, alignment, target))
                    continue
                image, these = to_refine[:2]
                same = (image_digest(image), code.tobytes(), these.refine, these.refine_loss, these.seed)
                if same not in refined:
                    refined[same] = self._refined(code, alignment, target, to_refine)[0]
                results.append((refined[same].copy(), alignment, target))
            return results

    def encode_photo(self, path: str | os.PathLike, settings: EncodeSettings | None = None) -> tuple:
        """Like `encode_path`, and also what the face was: (code, `AlignedFace` or None, target).

        The `AlignedFace` (None for a `.npy` code or an unaligned image) holds the crop's quad
        and landmarks in the photo, which `--paste` needs to put frames back into it. `target` is
        the crop the encoder saw at the generator's resolution (uint8 `[H, W, 3]`, what refinement
        and `likeness` compare against), None for a `.npy` code.
        """
        with self.cache.lookups():
            return self._refined(*self._encode(Path(path), settings or EncodeSettings()))

    def _encode(self, path: Path, settings: EncodeSettings, again: dict | None = None) -> tuple:
        """`encode_photo` up to refining: (code, `AlignedFace` or None, target, what `_refined` needs to refine
        the code: None when it is final, a `.npy` code's, a cached one's or one with no --refine). `again`: the
        alignments and codes of a photo named more than once, kept by its first encoding for the next."""
        if is_code(path):
            return self.load_codes(path), None, None, None
        image, alignment = self._load_and_align(path, settings, again)
        target = to_uint8(preprocess(image, self.model.size))[0]
        key = None
        if settings.cache:  # the key needs the weights' hash: only worth computing when caching
            # What decides a refined code; a plain code's key keeps these fields empty (and no method).
            refined_by = ({"refine_loss": settings.refine_loss, "seed": settings.seed,
                           "refine_method": refine.METHOD_VERSION} if settings.refine
                          else {"refine_loss": None, "seed": None})
            # The thread count for plain codes too: the encoder's sums split by thread as well (the demo pair's
            # codes at 1 and 2 threads are up to 8e-7 apart), and `--tune` amplifies that (its weights 9e-4
            # apart), so a code cached by a run with another count changed a tuned morph's bits.
            key = cache_key(crop=image_digest(image), weights=self.weights_sha256, refine=settings.refine,
                            version=2, threads=torch_flags.cpu_threads(self.device), **refined_by)
            cached = self.cache.get(key, (self.model.n_latent, self.model.style_dim))
            if cached is not None:
                return cached, alignment, target, None
        code = self._encode_once(image, again)
        if settings.refine > 0:
            return code, alignment, target, (image, settings, key, path.name)
        if key is not None:
            self.cache.put(key, code)
        return code, alignment, target, None

    def _refined(self, code: np.ndarray, alignment, target, to_refine) -> tuple:
        """`_encode`'s result, its code refined (and cached) if it has any refining to do."""
        if to_refine is not None:
            image, settings, key, name = to_refine
            code = self.refine(code, image, settings, name=name)
            if key is not None:
                self.cache.put(key, code)
        return code, alignment, target

    def _encode_once(self, image, again: dict | None) -> np.ndarray:
        """`encode_image`, or a copy of the code the same crop was given before (`again`, `_encode`'s)."""
        if again is None:
            return self.encode_image(image)
        same = ("code", image_digest(image))
        if same not in again:
            again[same] = self.encode_image(image)
        return again[same].copy()

    def encode_image(self, image) -> np.ndarray:
        """A PIL image (already aligned if needed) -> W+ code `[n_latent, D]`. Anything else (a numpy image, a path,
        a file's bytes) failed as an AttributeError ('numpy.ndarray' object has no attribute 'convert'), and an
        empty image was encoded: each is a UsageError saying what to give."""
        from PIL import Image

        if not isinstance(image, Image.Image):
            made = pil_image_of(image)
            fix = (f"give {made}" if made is not None else
                   f"encode_path({shown(image)}) encodes a file" if isinstance(image, (str, os.PathLike)) else
                   "give a PIL.Image.Image")
            raise UsageError(f"encode_image: {shown(image)} is not a PIL image; {fix}")
        if 0 in image.size:
            raise UsageError(f"encode_image: the image is empty ({image.size[0]} x {image.size[1]} px)")
        if self.encoder_released:  # the checkpoint's own "has no encoder" message would blame the file
            raise UsageError("this session's encoder was freed by release_encoder(), so it can only render; "
                             "encode in a new Session (or before calling release_encoder())")
        self.encoder_calls += 1
        # Converted as a photo file's pixels are (`images.to_rgb`), not by Pillow's convert("RGB"): that clipped a
        # 16-bit grey (I;16) to white and dropped an alpha channel onto black, so a caller's image gave another
        # code than the same pixels saved and encoded from the file.
        x = preprocess(to_rgb(image), self.model.encoder_input_size).to(self.device)
        with strict_fp32(self.device):  # encoding is float32 whatever --precision says; on CUDA, not TF32
            return self.model.encode(x)[0].float().cpu().numpy()

    def refine(self, code: np.ndarray, image, settings: EncodeSettings, name: str = "image") -> np.ndarray:
        target = preprocess(image, self.model.size).to(self.device)
        with progress_bars.bar(settings.refine, f"refining {name}", unit="step", enabled=self.progress) as bar:
            def progress(step: int, loss: float) -> None:
                bar.note(f"best loss {loss:.4f}")  # the code kept is the best seen (refine_codes)
                bar.update()

            refined = refine.refine_codes(self.model.generator, target, torch.from_numpy(code)[None].to(self.device),
                                          steps=settings.refine, loss=settings.refine_loss, seed=settings.seed,
                                          noise=self.model.generator.make_noise("const", device=self.device),
                                          progress=progress)
        return refined[0].detach().float().cpu().numpy()

    def likeness(self, paths: Sequence[Path], codes: np.ndarray, targets: Sequence[np.ndarray | None],
                 renders: dict[int, np.ndarray] | None = None, *, refined: int = 0,
                 suggest_tune: bool = True, tuned: int = 0, generator=None, noise: str = "const",
                 seed: int = 0, log: Log | None = None) -> list[dict]:
        """How well each code reproduces its photo (see `interp_cli.likeness`): one entry per input,
        `{"input", "psnr", "ssim", "identity", "identity_note", "poor", "untuned_psnr"}`, metrics None for
        a code file. `renders` maps an input's index to its code already rendered (no truncation, with
        this `noise` and `seed`: a morph's own end frames); every other photo's code is rendered here
        so, with `generator` (a tuned copy, `tune`'s) if given, else the loaded one.

        With `generator`, each photo's code is also rendered by the loaded generator (one extra frame a
        photo): `untuned_psnr`, on which "poor" is judged (`likeness.judge_tuned`), and a tuned end worse
        than that is warned about (`likeness.tuning_warning`). Without, `untuned_psnr` is None.
        Each poor one is logged as a one-line warning, to `log` if given, else the session's (`refined`,
        `tuned`: the --refine and --tune steps the morph took; `suggest_tune`: whether the command has --tune).
        Raises `UsageError` unless there is one path, code and target per input."""
        if not len(paths) == len(codes) == len(targets):
            raise UsageError(f"likeness: {len(paths)} paths, {len(codes)} codes and {len(targets)} targets; "
                             "give one of each per input")
        renders = dict(renders or {})
        _check_targets(targets, [len(renders[i]) if i in renders else self.model.size for i in range(len(targets))])
        photos = [i for i, target in enumerate(targets) if target is not None and i not in renders]
        renders.update(zip(photos, self.frames([codes[i] for i in photos], batch_size=4, generator=generator,
                                               noise=noise, seed=seed)))
        say = log or self.log
        measured = iter(likeness.measure_many([(renders[i], target) for i, target in enumerate(targets)
                                               if target is not None], log=say))
        untuned = {}
        if generator is not None:
            photos = [i for i, target in enumerate(targets) if target is not None]
            untuned = {i: likeness.psnr(frame, targets[i]) for i, frame in
                       zip(photos, self.frames([codes[i] for i in photos], batch_size=4, noise=noise, seed=seed))}
        entries = []
        for i, path in enumerate(paths):
            if targets[i] is None:
                entries.append({"input": str(path), "psnr": None, "ssim": None, "identity": None,
                                "identity_note": None, "poor": False, "untuned_psnr": None})
                continue
            entry = {"input": str(path), **next(measured), "untuned_psnr": None}
            if i in untuned:
                likeness.judge_tuned(entry, untuned[i])
            entries.append(entry)
        for i, (path, entry) in enumerate(zip(paths, entries)):
            name = str(path)  # as typed, as the errors name inputs
            if entry["poor"]:
                say(likeness.warning(name, entry, demo=self.is_demo, refined=refined,
                                          suggest_tune=suggest_tune, tuned=tuned))
            if i in untuned:
                others = [(str(p), e) for j, (p, e) in enumerate(zip(paths, entries)) if j != i]
                worse = likeness.tuning_warning(name, entry, others, tuned=tuned)
                if worse is not None:
                    say(worse)
        return entries

    # --- codes -> frames ---------------------------------------------------------------------

    def morph_frames(self, inputs: Sequence[str | os.PathLike], **options) -> Iterator[np.ndarray]:
        """The frames of a morph through `inputs`, one uint8 `[H, W, 3]` array at a time, in order:
        the frames `morph` (and `interp ... -o frames/`) writes with the same options, nothing written.

        `options` are `morph`'s frame options: steps, loop, pingpong, hold, ease, interp, layers,
        align, face, refine, refine_loss, tune, seed, cache, batch_size, noise, truncation, size, paste,
        backdrop, match_colour. e.g. `for frame in session.morph_frames(["a.jpg", "b.jpg"], steps=30): ...`

        A generator: nothing is checked or encoded until the first `next()`, which raises what `morph` would
        for the same call (`UsageError` for an option, `InputError` or `NoFaceError` naming an input in `.path`).
        Its tuned generator (`tune`) is dropped when it ends or is closed.
        """
        from interp_cli.pipeline import morph_frames  # the verbs drive a Session, not the other way round

        for name, example in (("progress", "True"), ("log", "print")):
            if name in options:  # Python's own words ("unexpected keyword argument") said not where it goes
                raise TypeError(f"morph_frames() got {name}=: a Session's morphs draw their bars and say their lines "
                                f"as the Session was made: Session(weights, {name}={example})")
        return morph_frames(self, inputs, **options)

    def noise(self, mode: str = "const", seed: int = 0) -> list:
        check_choice("noise", mode, NOISE_MODES)
        return self.model.generator.make_noise(mode, seed=seed, device=self.device)

    def frames(self, codes, *, batch_size: int = 4, noise: str = "const", seed: int = 0,
               truncation: float = 1.0, generator=None) -> Iterator[np.ndarray]:
        """Stream `[H, W, 3]` uint8 frames for an iterable of codes, drawn by `generator` (a tuned copy
        that `tune` returned) or else the loaded one. The generator is the caller's to pass, never the
        Session's state: morphs that share a Session, one after another or in threads, each draw with
        their own. Each keyword is checked as `morph`'s is: a wrong kind (batch_size="4", truncation="0.5",
        generator="tuned.pt") failed inside torch naming nothing, and seed=1.5 or truncation=nan drew frames.
        A bad keyword raises `UsageError` at once; a code of another shape than `[n_latent, style_dim]` raises
        `UsageError` naming its place (`codes[2]`) when the iteration reaches it."""
        check_number("batch_size", batch_size, low=1, integer=True)
        check_choice("noise", noise, NOISE_MODES)
        seed = check_seed(seed)
        truncation = check_number("truncation", truncation, *TRUNCATION)
        _check_generator(generator)
        avg = self.model.average_w() if truncation != 1.0 else None
        codes = self._checked_codes(codes)
        return render_frames(generator if generator is not None else self.model.generator, codes, batch_size=batch_size,
                             noise=self.noise(noise, seed), truncation=truncation, truncation_latent=avg,
                             precision=self.precision)

    def _checked_codes(self, codes) -> Iterator:
        """`frames`' codes, each refused as it comes (they may be a generator) unless it is this model's W+ code:
        one of another model, or a batch [1, n, d], reached the generator as a ValueError ("expected W+ codes of
        shape [B, 10, 128], got [1, 18, 512]"), no InterpError, naming a shape the caller never passed."""
        n, d = self.model.n_latent, self.model.style_dim
        for index, code in enumerate(codes):
            shape = tuple(getattr(code, "shape", ()))
            if shape != (n, d):
                shown = list(shape) if shape else type(code).__name__
                raise UsageError(f"codes[{index}]: got {shown}; this model draws W+ codes of shape [{n}, {d}], "
                                 f"one per frame")
            yield code

    # --- pivotal tuning (`--tune N`) ------------------------------------------------------------

    def tune(self, codes: np.ndarray, targets: Sequence[np.ndarray | None], steps: int, *, noise: str = "const",
             seed: int = 0, cache: bool = True, path: np.ndarray | None = None) -> tuple[torch.nn.Module, dict]:
        """A copy of the generator tuned on the inputs (see `interp_cli.tune`), to pass to `frames` and
        `likeness` as `generator`. `codes [K, n_latent, D]` are the pivots; `targets` each input's crop (uint8
        `[S, S, 3]`) or None for a `.npy` code, which only joins the locality term. `path [P, n_latent, D]`:
        the keyframes as the frames will show them, in the order they visit them (`blend.keyframe_path`: a
        loop's return to the first, a --layers mask), whose segments the locality term keeps as they were;
        None: `codes` in order, an open chain. The loaded generator is never changed. With `cache`, tuned
        weights are read from / written to the tuned-weights cache, keyed by the codes, the path's segments, the crops,
        the weights' sha256 and the tuning settings; another process (or thread) tuning the same key meanwhile is
        waited for, said once to `log`, and its entry used (`TunedCache.turn`).
        Returns the tuned copy and `{"steps", "cached", "seconds"}`."""
        # Checked as morph's tune= is, named as passed here: 1.5 failed inside the loop, an internal error.
        steps = check_tune_steps(steps, "steps")
        # The others as morph checks its own: cache="no" read as true, seed="1" reached torch, targets=None
        # failed in len() naming nothing.
        check_choice("noise", noise, NOISE_MODES)
        seed = check_seed(seed)
        cache = check_flags(cache=cache)["cache"]
        if not isinstance(targets, Sequence):
            raise UsageError(f"{option('targets')}: got {type(targets).__name__}; give a list of each code's crop "
                             "(uint8 [S, S, 3], or None for a .npy code's)")
        # Said as `likeness` says its own: numpy's "need at least one array to stack" named nothing.
        try:
            with warnings.catch_warnings():
                # Before numpy 1.24 a ragged list only warned (VisibleDeprecationWarning, printed to the caller beside
                # the refusal) and made an object array; taken as the ValueError later numpy raises.
                warnings.filterwarnings("error", message="Creating an ndarray from ragged")
                codes = np.asarray(codes)
        except (ValueError, Warning):  # codes of several shapes: numpy's "inhomogeneous shape after 1 dimensions"
            raise UsageError("codes: codes of different shapes; give a [K, n_latent, D] stack of this model's "
                             "codes") from None
        if codes.ndim != 3 or len(codes) != len(targets):
            raise UsageError(f"tune: codes of shape {list(codes.shape)} and {len(targets)} targets; give a "
                             "[K, n_latent, D] stack of codes and one target (a crop or None) per code")
        if path is not None and (np.ndim(path) != 3 or len(path) == 0 or np.shape(path)[1:] != codes.shape[1:]):
            raise UsageError(f"tune: a path of shape {list(np.shape(path))} for codes of shape {list(codes.shape)}; "
                             "give the keyframes the frames show, a [P, n_latent, D] stack like the codes")
        if all(target is None for target in targets):
            raise UsageError("tune: every target is None (a .npy code), so there is no photo to tune to; "
                             "draw those codes with the loaded generator (frames() without generator=)")
        self._check_tune_arrays(codes, targets, path)
        with tuning.out_of_memory_told(self.device):
            return self._tune(codes, targets, steps, noise=noise, seed=seed, cache=cache,
                              path=codes if path is None else np.asarray(path, np.float32))

    def _check_tune_arrays(self, codes: np.ndarray, targets: Sequence[np.ndarray | None], path) -> None:
        """`tune`'s codes and crops, each refused by its place before any work: another model's codes (or NaN) failed
        inside torch ("The expanded size of the tensor (64) must match ..."), a grey or str crop too, and a float
        crop in [0, 1] was tuned to as a black photo, cached and drawn with no word."""
        n, d = self.model.n_latent, self.model.style_dim
        if codes.shape[1:] != (n, d) or codes.dtype.kind not in "fiu":
            raise UsageError(f"codes: got {codes.dtype} {list(codes.shape)}; this model's codes are a [K, {n}, {d}] "
                             f"stack of W+ codes, one per target")
        for name, array in (("codes", codes), ("path", path)):
            if array is not None and (np.asarray(array).dtype.kind not in "fiu" or not np.isfinite(array).all()):
                raise UsageError(f"{name}: NaN, infinite or non-number values; give codes as encode_inputs (or "
                                 f"interp encode) made them")
        _check_targets(targets)

    def _tune(self, codes: np.ndarray, targets: Sequence[np.ndarray | None], steps: int, *, noise: str, seed: int,
              cache: bool, path: np.ndarray) -> tuple[torch.nn.Module, dict]:
        started = time.perf_counter()

        def done(tuned: torch.nn.Module, cached: bool) -> tuple[torch.nn.Module, dict]:
            return tuned, {"steps": steps, "cached": cached, "seconds": round(time.perf_counter() - started, 3)}

        if not cache:
            return done(self._tune_afresh(codes, targets, steps, noise=noise, seed=seed, path=path), False)
        # Keyed on the segments the locality term draws on, not the path: a two-face loop's return is its
        # first segment run back, so it tunes (and shares the entry) as the open morph does.
        segments = tuning.segments_of(torch.from_numpy(np.asarray(path, np.float32)))
        key = tuning.tune_key(codes=array_digest(codes), segments=[array_digest(part.numpy()) for part in segments],
                              crops=[None if t is None else array_digest(t) for t in targets],
                              weights=self.weights_sha256, steps=steps, lr=tuning.DEFAULT_LR,
                              locality=tuning.LOCALITY_WEIGHT, noise=noise, seed=seed,
                              threads=torch_flags.cpu_threads(self.device))
        base = self.model.generator
        tuned = self.tuned_cache.load(key, base)
        if tuned is not None:
            return done(tuned, True)
        # Another run tuning this key now is waited for, and its entry taken (`TunedCache.turn`); the claim is held
        # until the entry is written.
        with self.tuned_cache.turn(key, base) as tuned:
            if tuned is not None:
                return done(tuned, True)
            tuned = self._tune_afresh(codes, targets, steps, noise=noise, seed=seed, path=path)
            self.tuned_cache.put(key, tuned)
        return done(tuned, False)

    def _tune_afresh(self, codes: np.ndarray, targets: Sequence[np.ndarray | None], steps: int, *, noise: str,
                     seed: int, path: np.ndarray) -> torch.nn.Module:
        photos = [i for i, target in enumerate(targets) if target is not None]
        base = self.model.generator
        fixed = [i for i in range(len(targets)) if targets[i] is None]
        pivots = self._on_device(codes[photos])
        target = (torch.from_numpy(np.stack([targets[i] for i in photos])).permute(0, 3, 1, 2).float()
                  .div(127.5).sub(1).to(self.device))
        with progress_bars.bar(steps, "tuning", unit="step", enabled=self.progress) as bar:
            def progress(step: int, loss: float) -> None:
                bar.note(f"loss {loss:.4f}")
                bar.update()

            # The locality term's in-betweens are drawn along the morph's own path, codes without a photo and all.
            tuned = tuning.tune_generator(base, target, pivots, steps=steps, noise=self.noise(noise, seed), seed=seed,
                                          fixed=self._on_device(codes[fixed]) if fixed else None,
                                          path=self._on_device(path), progress=progress)
        return tuned

    def _on_device(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, np.float32)).to(self.device)


def _check_targets(targets: Sequence[np.ndarray | None], sizes: Sequence[int] | None = None) -> None:
    """`tune`'s and `likeness`'s crops, each refused by its place: a grey or str crop failed inside torch or numpy
    ("images differ in shape") naming nothing, and a float crop in [0, 1] was tuned to, or measured against, as a
    black photo, with no word (likeness then warned that the model "cannot draw this image"). `sizes`: the size
    each crop must have (likeness compares it with its render pixel for pixel; tuning resizes)."""
    for index, target in enumerate(targets):
        if target is None:
            continue
        want = "S" if sizes is None else sizes[index]
        if not isinstance(target, np.ndarray) or target.dtype != np.uint8 or target.ndim != 3 or \
                target.shape[2] != 3 or target.shape[0] != target.shape[1] or want not in ("S", target.shape[0]):
            shown = f"{target.dtype} {list(target.shape)}" if isinstance(target, np.ndarray) else type(target).__name__
            raise UsageError(f"targets[{index}]: got {shown}; give the photo's crop as uint8 [{want}, {want}, 3] RGB "
                             f"(encode_inputs' third item), or None for a .npy code's")


def _check_generator(generator) -> None:
    """`frames`' generator: None (the loaded one) or the tuned copy `Session.tune` returned (a torch module).
    A path or a state dict failed as AttributeError ("'str' object has no attribute 'parameters'")."""
    if generator is not None and not isinstance(generator, torch.nn.Module):
        # Named by its type: a state dict's repr would run to megabytes.
        raise UsageError(f"{option('generator')}: got {type(generator).__name__}; give the tuned copy Session.tune "
                         "returned, or None to draw with the loaded generator")
