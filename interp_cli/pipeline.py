"""The library API: morph, encode, render, align, mix and batch as plain functions (no Click here).

    from interp_cli.pipeline import morph
    summary = morph(["a.png", "b.png"], "out.mp4", steps=60, weights="ffhq")

A `Session` (interp_cli.session) holds one loaded model on one device, so that many morphs load the
weights once; `batch` lives in interp_cli.batch and is reached here too. Every user error is raised
as an `InterpError` subclass with a one-line message; the CLI turns those into exit codes.
"""

from __future__ import annotations


import os
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, closing
from contextvars import ContextVar
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from interp_cli import blend, output_paths, progress as progress_bars, replay, write
from interp_cli.checks import (check_choice, check_flags, check_function, check_number, check_paths, check_refine_steps,
                               check_seed, check_tune_steps, refuse_one_path)
from interp_cli.align_verb import align
from interp_cli.errors import (InterpError, NoFaceError, UsageError, WeightsUnavailableError, no_face_advice_paste,
                               option, speaking_to_cli)
from interp_cli.files import Outputs
from interp_cli.inputs import (Faces, check_input_contents, check_input_files, check_inputs, code_input, faces_for,
                               is_code, mix_sources, morph_choices, plan_aligned, refuse_one_face_mix,
                               refuse_oversized_frames, refuse_same_faces)
from interp_cli.kept_photos import KeptPhotos
from interp_cli.layers import check_layers
from interp_cli.limits import EASINGS, FPS, GIF_MAX_FPS, INTERPS, NOISE_MODES, QUALITY, SIZE, TRUNCATION
from interp_cli.render import pick_device, pick_precision, precision_name, render_ahead, render_float
from interp_cli.progress import Log, python_log
from interp_cli.session import EncodeSettings, Session, code_maker
from interp_cli.sheet import contact_sheet, input_thumbnail, sheet_tile, spaced
from interp_cli.stops import context_set
from interp_cli.presets import PRESETS
from interp_cli.weights import default_weights_spec, download_weights, resolve_weights

# What `help(interp_cli.pipeline)` lists and `from interp_cli.pipeline import *` takes: the verbs, and the
# Session and its settings from interp_cli.session; batch comes from interp_cli.batch (`__getattr__` below),
# download_weights from interp_cli.weights (torch-free, for `interp_cli.download_weights`).
__all__ = ["Session", "EncodeSettings", "morph", "morph_frames", "encode", "render", "align", "mix",
           "batch", "download_weights"]  # noqa: F822


# `batch`'s seam: the --save-aligned crops its manifest planned for the row being morphed (`batch_plan.plan_crops`,
# one name per photo across the whole manifest). Set around that one `morph` call (`planned_crops`) rather than
# passed as a keyword: `morph`'s signature is public, and a Python caller has no such plan to pass. A context
# variable is the running thread's own, so another thread's morph never sees a row's crops.
_PLANNED_CROPS: ContextVar[Sequence[Path | None] | None] = ContextVar("planned_crops", default=None)


def planned_crops(crops: Sequence[Path | None]) -> AbstractContextManager[None]:
    """`morph` calls inside save their `save_aligned` crops as `crops` (one per input, None for a code)."""
    return context_set(_PLANNED_CROPS, crops)


def _frame_size(size) -> int | None:
    """--size as Python's int (np.int64(256) too: the summary's width and height are JSON), or None."""
    return None if size is None else check_number("size", size, *SIZE, integer=True)


def _frame_plan(paths: Sequence[Path], *, steps, loop, pingpong, hold, ease, interp, batch_size, truncation, refine,
                size, noise) -> list:
    """Check the options that decide a morph's frames (`morph` and `morph_frames` alike); the frame plan."""
    check_number("batch_size", batch_size, low=1, integer=True)
    check_number("truncation", truncation, *TRUNCATION)
    check_refine_steps(refine)
    _frame_size(size)
    check_choice("noise", noise, NOISE_MODES)
    check_choice("ease", ease, EASINGS)  # blend's own "unknown easing None" named no keyword
    plan = blend.plan_frames(len(paths), steps, loop=loop, pingpong=pingpong, hold=hold, ease=ease)
    check_choice("interp", interp, INTERPS)
    return plan


def morph(inputs: Sequence[str | os.PathLike], output: str | os.PathLike, *, steps: int = 60, fps: float = 30,
          quality: int = 8, weights: str | None = None, device: str | None = "auto", precision: str = "auto",
          batch_size: int = 4, noise: str = "const", seed: int = 0, truncation: float = 1.0, align: bool | None = None,
          face: Faces = None, save_aligned: str | os.PathLike | None = None, loop: bool = False,
          pingpong: bool = False, hold: int = 0, ease: str = "linear", interp: str = "lerp",
          layers: str = "all", refine: int = 0, refine_loss: str = "l2+lap", cache: bool = True,
          tune: int | bool = 0, sheet: str | os.PathLike | None = None, sheet_frames: int = 8, size: int | None = None,
          paste: bool = False, backdrop: str | int | None = None, match_colour: bool = True,
          session: Session | None = None, log: Log = python_log, progress: bool = False) -> dict:
    """Morph through the images (or `.npy` codes) in `inputs` and write `output` (.mp4, .gif, an .html
    page with a slider through the frames, a frames directory, or a .png contact sheet). Returns a JSON-able
    summary. A frames directory is a str
    ending in "/", an existing folder, or a Path; a str with no file type such as "out/m2" is refused
    as `-o out/m2` is (a typo for out/m2.mp4 is likelier than a wish for a folder of PNGs).

    `steps` frames per transition (both ends included, so a two-image morph has exactly `steps`
    frames, the first and last being the two reconstructions); see `interp_cli.blend` for
    `loop`, `pingpong`, `hold`, `ease`, `interp` and `layers`. `size` resizes the written frames
    (Lanczos) to size x size, e.g. to upscale the 64 px demo model or shrink 1024 px output.

    `paste=True` composites every frame into a photo instead (`interp_cli.paste`): the first
    input's, or the one `backdrop` names (a letter a, b, c ... or a 1-based number; naming one
    turns `paste` on), upright and at its own resolution, the face warped back onto the face
    that was encoded (a single `face` picks it in the backdrop; the other inputs give their largest face).
    `size` is then the written width, the height keeping the photo's aspect ratio. Pasting needs
    alignment (it is turned on unless `align=False`, which is an error) and a photo as the
    backdrop, not a `.npy` code. `match_colour` shifts each pasted face's colour by its mean
    difference from the photo along the seam.

    `tune=N` (True: `interp_cli.tune.DEFAULT_STEPS`) fits a copy of the generator to the input photos
    for N steps after encoding (and `refine`) and renders every frame with it (`interp_cli.tune`); the
    loaded model (a `session`'s too) is left as it was. Tuned weights are cached unless `cache=False`.

    The frames themselves, in memory and nothing written: `Session(weights).morph_frames(inputs, steps=30)` yields
    them one at a time, uint8 `[H, W, 3]` arrays (`PIL.Image.fromarray(frame)` shows one), with these frame options.
    Inputs are files: a photo in memory (a PIL image, an array, a request's bytes) is refused with the line that saves
    it to one.

    `session` renders with that Session's model (`weights`, `device` and `precision` must then name it or be
    left out). `log` takes each line the command would print (default `progress.python_log`: warnings as
    `InterpWarning`s, notes on the "interp_cli" logger); `progress=True` draws bars on stderr. Bad arguments
    or inputs raise `InterpError` subclasses naming the keyword at fault (see `help(interp_cli)`).
    """
    started = time.perf_counter()
    check_paths(output=output, sheet=sheet, save_aligned=save_aligned)
    check_function("log", log)
    align, loop, pingpong, paste, match_colour, cache, progress = check_flags(
        align=align, loop=loop, pingpong=pingpong, paste=paste, match_colour=match_colour, cache=cache,
        progress=progress).values()
    paths = check_input_files(inputs, [output, ("sheet", sheet)])
    if len(paths) < 2:
        raise UsageError("need at least two images to morph between")
    kind = output_paths.check_morph_outputs(output, sheet)
    # No option: a Python caller's argument.
    sheet_frames = check_number("sheet_frames", sheet_frames, low=1, integer=True)
    aligned = plan_aligned(paths, save_aligned, [("output", output), ("sheet", sheet)],  # -o and --sheet too
                           _PLANNED_CROPS.get())
    backdrop_index, faces = morph_choices(paths, steps=steps, loop=loop, pingpong=pingpong, hold=hold, paste=paste,
                                          backdrop=backdrop, align=align, face=face)
    check_input_contents(paths)  # after what the names alone refuse (`morph_choices`): no decoding for those
    fps = check_number("fps", fps, *FPS)  # Python's float and int: the writers refused np.float32(30)
    quality = check_number("quality", quality, *QUALITY, integer=True)
    size = _frame_size(size)
    if kind == "gif" and fps > GIF_MAX_FPS:
        # The writer can do no better; the summary says what was written, not what was asked for.
        log(f"warning: {os.fspath(output)}: a GIF plays at most {GIF_MAX_FPS:g} fps (its delays are "
            f"whole hundredths of a second, and browsers slow ones under 20 ms down); {option('fps', fps)} is "
            f"written at {GIF_MAX_FPS:g}")
        fps = GIF_MAX_FPS
    odd = output_paths.odd_mp4_size(size) if kind == "mp4" else None
    if odd:
        raise UsageError(odd)
    refuse_oversized_frames(paths, backdrop_index, output, kind, size, fps)
    tune = check_tune_steps(tune)
    seed = check_seed(seed)
    check_layers(layers)  # its rows are checked against the model's once it is loaded
    if session is not None:
        _refuse_another_model(session, weights, device, precision)
    plan = _frame_plan(paths, steps=steps, loop=loop, pingpong=pingpong, hold=hold, ease=ease, interp=interp,
                       batch_size=batch_size, truncation=truncation, refine=refine, size=size, noise=noise)
    paste = backdrop_index is not None
    align = True if paste else align

    own_session = session is None
    session = session or Session(weights, device, log=log, progress=progress, precision=precision)
    # The output, the sheet and the crops are each complete in a temp before any of them is moved into
    # place: a failure on any one (a full disk on the sheet) leaves all the older ones as they were.
    with Outputs() as outputs, KeptPhotos() as kept:
        settings = [replace(these, aligned_as=aligned[i], outputs=outputs) for i, these in enumerate(_input_settings(
            EncodeSettings(align=align, refine=refine, refine_loss=refine_loss, seed=seed, cache=cache), faces, paths))]
        # A pasted sheet shows every photo whole, and any sheet an unaligned photo's own pixels: kept too.
        settings = _keeping(settings, kept, backdrop_index, sheet=kind == "png" or sheet is not None,
                            aligns_by_default=session.aligns_by_default)
        mask = blend.parse_layers(layers, session.model.n_latent)
        _say_unused_for_codes(paths, log, tune=tune, refine=refine, align=align, face=face,
                              save_aligned=save_aligned is not None or _PLANNED_CROPS.get() is not None)
        t_encode = time.perf_counter()
        # Rendering (and tuning, and refining) never needs the encoder: its memory goes back as soon as every
        # input is through it, before any is refined (--refine at 1024 px would hold 1 GB more).
        encoded = _encode_for_morph(session, paths, settings, backdrop_index, loop=loop, log=log, tune=tune,
                                    release_encoder=own_session, say_cached=own_session)
        codes = np.stack([code for code, _, _ in encoded])
        encode_seconds = time.perf_counter() - t_encode
        targets = [target for _, _, target in encoded]
        generator, tuned = _tuned(session, codes, targets, tune, noise=noise, seed=seed, cache=cache, log=log,
                                  path=blend.keyframe_path(codes, loop=loop, layer_mask=mask))
        return _render_and_write(session, paths, output, kind, sheet, codes, encoded, targets, plan, mask, tuned,
                                 outputs, generator=generator, log=log, started=started,
                                 encode_seconds=encode_seconds, fps=fps, quality=quality, batch_size=batch_size,
                                 noise=noise, seed=seed, truncation=truncation, interp=interp,
                                 sheet_frames=sheet_frames, size=size, paste=paste, backdrop_index=backdrop_index,
                                 match_colour=match_colour, settings=settings, cache=cache, progress=progress,
                                 refine=refine, photos=kept)


def _refuse_another_model(session: Session, weights, device, precision) -> None:
    """`morph(session=s, ...)` renders with the session's model, on its device, in its precision: weights,
    a device or a precision that name others are refused rather than quietly ignored ("auto", the default,
    asks for nothing). Something else than a Session (`session="demo"`) is refused as such."""
    if not isinstance(session, Session):
        raise UsageError(f"{option('session', session)}: give a Session (interp_cli.Session(weights)), or None for "
                         "a model loaded for this morph")
    for name, asked, given, has in (("device", device, lambda: pick_device(str(device)), session.device),
                                    ("precision", precision, lambda: pick_precision(precision, session.device),
                                     session.precision)):
        if asked is not None and asked != "auto" and given() != has:
            shown = str(has) if name == "device" else precision_name(has)
            raise UsageError(f"{option(name, str(asked))} is not the session's ({shown}); a morph with a session "
                             f"renders with its model: pass one or the other")
    if weights is None:
        return
    try:
        wanted = resolve_weights(weights, download=False, progress=False, verify=False).path
        same = Path(wanted).resolve() == Path(session.weights.path).resolve()
    except InterpError:  # not on this machine (or no such weights): not the session's, which are loaded
        same = False
    if not same:
        raise UsageError(f"{option('weights', weights)} names other weights than the session's ({session.weights.id}); "
                         "a morph with a session renders with its model: pass one or the other")


def _tuned(session: Session, codes: np.ndarray, targets: list, steps: int, *, noise: str, seed: int, cache: bool,
           log: Log, path: np.ndarray) -> tuple:
    """This morph's copy of the generator tuned to its photos (`--tune steps`) and `Session.tune`'s
    summary, or (None, None) untuned. `path`: the keyframes as the morph shows them (`blend.keyframe_path`).
    The copy is the morph's own, passed along rather than set on the session, so a batch's next row, a
    Python caller's next morph or another thread's never sees it."""
    if steps and any(target is not None for target in targets):  # codes alone: `_say_unused_for_codes`
        generator, summary = session.tune(codes, targets, steps, noise=noise, seed=seed, cache=cache, path=path)
        if summary.get("cached"):  # said, as the tuning bar would have been: a rerun takes no time to tune
            log(f"tuning: {steps} steps reused from the cache")
        return generator, summary
    return None, None


def _render_and_write(session: Session, paths, output, kind, sheet, codes, encoded, targets, plan, mask, tuned,
                      outputs: Outputs, *, generator, log: Log, started, encode_seconds, fps, quality, batch_size,
                      noise, seed, truncation, interp, sheet_frames, size, paste, backdrop_index, match_colour,
                      settings, cache, progress, refine, photos: KeptPhotos) -> dict:
    """`morph` once the codes exist: render (with the tuned generator, if any), write, report, summarise.
    Every output joins `outputs` complete, and they are committed together at the end."""
    # The likeness report measures the morph's own frames of each photo's code (its reconstruction),
    # at the generator's resolution, instead of rendering them again: whenever they are the code's
    # reconstruction (no truncation), whatever the noise (a tuned copy is fitted with the morph's own
    # noise maps). The rest are rendered after the morph, with the same noise, untruncated.
    ends = _EndFrames(codes, targets) if truncation == 1.0 else None

    paster = _paster(session, paths, encoded, backdrop_index, size, match_colour, photos)
    paste_timer = _Timer() if paster is not None else None
    # A `.npy` input is shown (the sheet's tile, the page's crop) as the morph draws its frames: tuned, with their
    # noise and truncation. Drawn by the untuned generator, a tuned morph's sheet showed another face for it.
    def draw(code: np.ndarray) -> np.ndarray:
        return next(session.frames([code], batch_size=1, noise=noise, seed=seed, truncation=truncation,
                                   generator=generator))

    # Before the render thread starts: a code's crop is a render of its own.
    about = _page_about(paths, codes, encoded, draw) if kind == "html" else None
    n_frames = len(plan)
    sources = blend.first_showings(plan)  # a frame shown again (a hold's copy, the way back) is drawn once
    code_stream = blend.iter_codes(codes, replay.to_draw(plan, sources), interp=interp, layer_mask=mask)
    if ends is not None:
        code_stream = ends.watch(code_stream)
    rendered = render_ahead(session.frames(code_stream, batch_size=batch_size, noise=noise, seed=seed,
                                           truncation=truncation, generator=generator), depth=2 * batch_size)
    raw = ends.keep(rendered) if ends is not None else rendered  # counted as drawn, as `watch` counts
    # A frame shown again later (the way back) is kept resized (--size), within a bound, or as drawn and pasted
    # again (--paste: as cheap as keeping the pasted frame); a hold's copies are copies of the finished frame.
    finish, size = _finisher(session, paster, size, paste_timer)
    frames = replay.replay(raw, sources, finish, keep_finished=paster is None)
    wanted_sheet = kind == "png" or sheet is not None
    sheet_summary = None
    picks = set(spaced(sheet_frames, [i for i, spec in enumerate(plan) if not spec.hold]))
    kept: list[np.ndarray] = []
    likeness_seconds = 0.0

    def report() -> list[dict]:  # once every frame is drawn: the end frames are the reconstructions
        nonlocal likeness_seconds
        t_likeness = time.perf_counter()
        if ends is not None:
            _say_unshown_codes(paths, targets, ends.frames, log)
        entries = session.likeness(paths, codes, targets, renders=ends.frames if ends is not None else None,
                                   refined=refine, tuned=tuned["steps"] if tuned else 0, generator=generator,
                                   noise=noise, seed=seed, log=log)
        likeness_seconds = time.perf_counter() - t_likeness
        return entries

    reconstruction = None
    t_render = time.perf_counter()
    with closing(rendered), progress_bars.bar(n_frames, "rendering", unit="frame", enabled=progress) as bar:
        if kind == "png":  # on any error, closing stops the render thread before leaving
            for i, frame in enumerate(frames):
                if i in picks:
                    kept.append(sheet_tile(frame))
                bar.update()
        else:
            with write.open_writer(output, fps=fps, quality=quality, size=size, expected_frames=n_frames,
                                   about=about, log=log) as writer:
                for i, frame in enumerate(frames):
                    writer.write(frame)
                    if wanted_sheet and i in picks:
                        kept.append(sheet_tile(frame))
                    bar.update()
                if kind == "html":  # a page shows the report beside its slider: measured before it closes
                    reconstruction = report()
                    writer.report(reconstruction)
                writer.finish()  # complete in its temp; moved into place with the sheet and crops, below
                outputs.add(writer)
            if writer.written_size != writer.size:  # an MP4 of a --paste photo of an odd size, padded
                log(write.padded_warning(output, writer.size, writer.written_size))
            size = writer.written_size or size  # what a player will show
    render_seconds = time.perf_counter() - t_render - likeness_seconds
    if reconstruction is None:
        reconstruction = report()
    if wanted_sheet:
        sheet_summary = _stage_sheet(outputs, [output] if kind == "png" else [], sheet, kept, paths, codes, encoded,
                                     draw=draw, paste=paste, photos=photos)
    outputs.commit()

    timings = {"encode": round(encode_seconds, 3),
               **({"tune": tuned["seconds"]} if tuned else {}),
               "likeness": round(likeness_seconds, 3), "render": round(render_seconds, 3)}
    pasted = None
    if paster is not None:
        timings["paste"] = round(paste_timer.seconds, 3)  # inside "render", which it runs beside
        pasted = {"backdrop": str(paths[backdrop_index]), "face": encoded[backdrop_index][1].face_index,
                  "box": [int(v) for v in paster.box]}

    return {
        "output": str(output), "kind": kind, "frames": n_frames, "width": size[0], "height": size[1],
        "fps": fps, "sheet": str(sheet) if sheet else None, "sheet_size": sheet_summary, "paste": pasted,
        "encoder_calls": session.encoder_calls, "reconstruction": reconstruction, "tune": tuned,
        **_shared_summary(session, paths, started=started, hash_weights=cache, timings=timings),
    }


def _stage_sheet(outputs: Outputs, targets: list, sheet, tiles: list, paths, codes, encoded, *, draw, paste: bool,
                 photos: KeptPhotos) -> dict:
    """The contact sheet of `tiles` (the morph's picked frames) above a tile per input, staged in `outputs` at each
    of `targets` (`-o`, when it is a .png) and at `sheet`; its summary. A `.npy` input is drawn as the morph drew it
    (`draw`), a photo shown by its aligned crop, or whole when pasting."""
    tile = (tiles[0].shape[1], tiles[0].shape[0])
    sheet_inputs = [draw(code) if is_code(path)
                    else input_thumbnail(where, tile, None if where is not None and not paste
                                         else photos.photo(i, path), whole=paste)
                    for i, (path, code, (_, where, _)) in enumerate(zip(paths, codes, encoded))]
    sheet_image = contact_sheet(tiles, sheet_inputs)
    # `-o a.png --sheet b.png` asks for the sheet twice: each is written (the --sheet was dropped unsaid, while
    # the summary named it).
    for target in targets + ([sheet] if sheet is not None else []):
        write.stage_image(outputs, target, sheet_image)
    return {"frames": len(tiles), "width": sheet_image.shape[1], "height": sheet_image.shape[0]}


def _say_unshown_codes(paths: Sequence[Path], targets: Sequence, shown: dict, log: Log) -> None:
    """Say which photos' likeness is measured on a code that no frame of the morph shows: under --layers, every
    frame keeps the first input's rows outside the mask, so a later input's end frame mixes two faces. The report
    measures that input's own code, drawn whole (what --refine and --tune can improve: its end frame scored 9-14 dB
    against its photo for every mask on the demo pair, its code 28 dB; benchmarks/README.md), and says so here,
    since the likeness line beside a morph otherwise reads as a measure of its frames."""
    unshown = [str(path) for i, (path, target) in enumerate(zip(paths, targets))
               if target is not None and i not in shown]
    if unshown:
        one = len(unshown) == 1
        log(f"note: {option('layers')}: every frame keeps {paths[0]}'s rows outside the mask, so none shows the whole "
            f"code of {', '.join(unshown)}; the likeness report measures {'that code' if one else 'those codes'} "
            f"drawn on {'its' if one else 'their'} own")


def _input_settings(settings: EncodeSettings, faces: Sequence[int | None], paths: Sequence[Path]
                    ) -> list[EncodeSettings]:
    """`settings` for each input, with its face (`inputs.faces_for`), its place among the inputs and the inputs."""
    everywhere = len(set(faces)) == 1
    return [replace(settings, face=f, slot=(i, len(faces)), face_everywhere=everywhere, inputs=tuple(paths))
            for i, f in enumerate(faces)]


def _say_unused_for_codes(paths: Sequence[Path], log: Log, *, tune: int, refine: int, align: bool | None,
                          face: Faces, save_aligned: bool) -> None:
    """A note for each option given to a morph of `.npy` codes alone that works on photos, which it has none
    of: the morph goes on without it (as a batch's other rows, with photos, use it), said rather than
    taken in silence. `align`: None when left to the model; `save_aligned`: whether crops were asked for."""
    if not all(is_code(path) for path in paths):
        return
    for given, name, verb_, instead in (
            (tune, option("tune"), "tune to", "rendering untuned"),
            (refine, option("refine"), "refine against", "using the codes as they are"),
            (align is not None, option("align", bool(align)), "align", "using the codes as they are"),
            (face is not None, option("face"), "pick a face in", "using the codes as they are"),
            (save_aligned, option("save_aligned"), "align", "no crops are saved")):
        if given:
            log(f"note: {name}: every input is a .npy code, with no photo to {verb_}; {instead}")


def _encode_for_morph(session: Session, paths: Sequence[Path], settings: Sequence[EncodeSettings],
                      backdrop_index: int | None, *, loop: bool, log: Log, tune: int, release_encoder: bool = False,
                      say_cached: bool = False) -> list[tuple]:
    """`encode_inputs` for a morph, with each input's `settings` (`_input_settings`); refuses one photo's face
    twice in a row (`inputs.refuse_same_faces`), which only its alignment can tell, before --refine's minutes.
    `say_cached`: say the codes taken from the cache (`_say_reused`), for a morph that loads its own model; a
    batch's rows share one session, and would each say it again for every photo another row encoded. `tune`: the
    morph's steps; a tuning morph's unwritable cache root is said once, for both caches, at its first code."""
    paste = backdrop_index is not None
    if tune:
        session.tuned_cache.in_use()
    calls = session.encoder_calls
    try:
        encoded = session.encode_inputs(paths, settings, release_encoder=release_encoder,
                                        check_faces=lambda found: refuse_same_faces(paths, loop, found))
    except NoFaceError as err:
        raise (err.advised(no_face_advice_paste()) if paste else err) from None
    if say_cached:
        _say_reused(session, paths, calls, log)
    return encoded


def _say_reused(session: Session, paths: Sequence[Path], calls: int, log: Log) -> None:
    """Say how many of the photos' codes came from the cache, `calls` being the session's encoder calls before
    `paths` were encoded. Said as a tuning taken from the cache is: a rerun's encoding takes no time, and
    this says why, and how to encode again."""
    photos = sum(not is_code(path) for path in paths)
    reused = photos - (session.encoder_calls - calls)
    if reused > 0:
        log(f"encoding: {reused} of {photos} code{'s' if photos > 1 else ''} reused from the cache "
            f"({option('cache', False)} encodes again)")


def _keeping(settings: list[EncodeSettings], kept: KeptPhotos, backdrop_index: int | None, *, sheet: bool = False,
             aligns_by_default: bool = True) -> list[EncodeSettings]:
    """`settings` with the photos a morph uses again kept as encoding reads them (`kept_photos`): a --paste morph's
    backdrop, and with a `sheet` every photo (a sheet beside pasted frames shows them whole); without --paste, with a
    sheet, each photo that is not aligned (its tile is the whole photo; an aligned one's is its crop)."""
    if backdrop_index is not None:
        return [replace(these, keep_photo=kept.keeper(i)) if sheet or i == backdrop_index else these
                for i, these in enumerate(settings)]
    if not sheet:
        return settings
    return [these if these.aligns(aligns_by_default) else replace(these, keep_photo=kept.keeper(i))
            for i, these in enumerate(settings)]


def _paster(session: Session, paths: Sequence[Path], encoded: list[tuple], backdrop_index: int | None,
            size: int | None, match_colour: bool, kept: KeptPhotos):
    """The `Paster` for --paste (None without it), made before the render thread starts: the rest is per frame.
    The backdrop is the photo its encoding read (`kept`)."""
    if backdrop_index is None:
        return None
    from interp_cli.align.ffhq import quad_side
    from interp_cli.paste import FaceTooSmallError, Paster, smallest_width

    where = encoded[backdrop_index][1]
    photo = kept.photo(backdrop_index, paths[backdrop_index])
    try:
        return Paster(photo, where.quad, where.landmarks, face_size=session.model.size, width=size,
                      match_colour=match_colour)
    except FaceTooSmallError:
        # Said in the user's terms (which photo, which option, what would do) before any frame renders.
        name, width = paths[backdrop_index], photo.shape[1]

        def face_at(written: int) -> str:  # the face's crop, in px across, in a photo `written` px wide
            return f"{quad_side(where.quad) * written / width:.1f}"  # tenths: 2.9 px fails, 3.0 px does not

        if size is None:
            raise InterpError(f"{option('paste', True)}: the face in {name} is too small to paste onto "
                              f"({face_at(width)} px across); choose a photo with a larger face, or another with "
                              f"{option('backdrop')}", path=name) from None
        smallest = smallest_width(photo.shape[:2], where.quad, where.landmarks)
        needed = (f"at least {face_at(smallest)} px are needed: {option('size', smallest)} or more for this photo"
                  if smallest else f"even {option('size', 4096)} is too small for this photo")
        asked = (" " if speaking_to_cli() else ", ").join([option("paste", True), option("size", size)])
        raise UsageError(f"{asked} makes the face in {name} {face_at(size)} px across, too small to paste onto; "
                         f"{needed}", path=name) from None


def _finisher(session: Session, paster, size: int | None, timer=None):
    """(what makes a rendered frame the frame written: its paste into the photo, or its resizing to `size`, or None
    where it is written as rendered; the written frames' (width, height))."""
    if paster is not None:
        return (timer.timed(paster.paste) if timer else paster.paste), paster.size
    if size is not None and size != session.model.size:
        return partial(_resized, size=size), (size, size)
    return None, (size or session.model.size,) * 2


def morph_frames(session: Session, inputs: Sequence[str | os.PathLike], *, steps: int = 60, loop: bool = False,
                 pingpong: bool = False, hold: int = 0, ease: str = "linear", interp: str = "lerp",
                 layers: str = "all", align: bool | None = None, face: Faces = None, refine: int = 0,
                 refine_loss: str = "l2+lap", seed: int = 0, cache: bool = True, batch_size: int = 4,
                 noise: str = "const", truncation: float = 1.0, size: int | None = None, paste: bool = False,
                 backdrop: str | int | None = None, match_colour: bool = True,
                 tune: int | bool = 0) -> Iterator[np.ndarray]:
    """`Session.morph_frames`: the inputs are checked and encoded at the first `next()`; with `tune`,
    the frames come from this iterator's own tuned copy of the generator, dropped when it ends or is closed."""
    align, loop, pingpong, paste, match_colour, cache = check_flags(
        align=align, loop=loop, pingpong=pingpong, paste=paste, match_colour=match_colour, cache=cache).values()
    paths = check_input_files(inputs)
    if len(paths) < 2:
        raise UsageError("need at least two images to morph between")
    tune = check_tune_steps(tune)
    check_seed(seed)
    backdrop_index, faces = morph_choices(paths, steps=steps, loop=loop, pingpong=pingpong, hold=hold, paste=paste,
                                          backdrop=backdrop, align=align, face=face)
    check_input_contents(paths)
    plan = _frame_plan(paths, steps=steps, loop=loop, pingpong=pingpong, hold=hold, ease=ease, interp=interp,
                       batch_size=batch_size, truncation=truncation, refine=refine, size=size, noise=noise)
    settings = _input_settings(EncodeSettings(align=True if backdrop_index is not None else align,
                                              refine=refine, refine_loss=refine_loss, seed=seed, cache=cache), faces,
                               paths)
    mask = blend.parse_layers(layers, session.model.n_latent)
    _say_unused_for_codes(paths, session.log, tune=tune, refine=refine, align=align, face=face, save_aligned=False)
    with KeptPhotos() as kept:  # the backdrop, until the paster has it
        encoded = _encode_for_morph(session, paths, _keeping(settings, kept, backdrop_index), backdrop_index,
                                    loop=loop, log=session.log, tune=tune)
        paster = _paster(session, paths, encoded, backdrop_index, size, match_colour, kept)
    codes = np.stack([code for code, _, _ in encoded])
    targets = [target for _, _, target in encoded]
    generator, _ = _tuned(session, codes, targets, tune, noise=noise, seed=seed, cache=cache, log=session.log,
                          path=blend.keyframe_path(codes, loop=loop, layer_mask=mask))
    sources = blend.first_showings(plan)
    rendered = session.frames(blend.iter_codes(codes, replay.to_draw(plan, sources), interp=interp, layer_mask=mask),
                              batch_size=batch_size, noise=noise, seed=seed, truncation=truncation, generator=generator)
    yield from replay.replay(rendered, sources, _finisher(session, paster, size)[0], keep_finished=paster is None)


class _EndFrames:
    """Keeps the first frame that shows each photo input's own code bit for bit: its reconstruction.

    `watch` sees the codes on their way to the renderer (in the render thread) and notes which
    frame index shows which input; `keep` sees the rendered frames in order (in the caller's
    thread) and copies those frames. Every batch's codes are read before its frames come back, so a
    frame's note is always there when the frame is. Comparing the codes themselves finds each
    input's frame whatever the schedule (--hold, --loop, --pingpong, easing, spline); a keyframe
    whose frame is never its own code (a --layers mask keeps the first input's rows) is not kept.
    """

    def __init__(self, codes: np.ndarray, targets: Sequence[np.ndarray | None]):
        self.codes = codes
        self.pending = [i for i, target in enumerate(targets) if target is not None]
        self.shows: dict[int, int] = {}          # frame index -> input index
        self.frames: dict[int, np.ndarray] = {}  # input index -> its frame

    def watch(self, codes: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for index, code in enumerate(codes):
            for i in self.pending:
                if np.array_equal(code, self.codes[i]):
                    self.shows[index] = i
                    self.pending.remove(i)
                    break
            yield code

    def keep(self, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for index, frame in enumerate(frames):
            i = self.shows.get(index)
            if i is not None:
                self.frames[i] = frame.copy()
            yield frame


class _Timer:
    """Adds up the time spent in a function (the paste, beside the render)."""

    def __init__(self):
        self.seconds = 0.0

    def timed(self, fn):
        def run(item):
            started = time.perf_counter()
            try:
                return fn(item)
            finally:
                self.seconds += time.perf_counter() - started
        return run


def _page_about(paths: Sequence[Path], codes: np.ndarray, encoded: list, draw) -> dict:
    """What an HTML page shows beside its slider: each input's crop as the encoder saw it (a code's own
    rendering for a `.npy` input, by `draw`, as the morph draws it); the likeness numbers follow the frames
    (`PageWriter.report`)."""
    from interp_cli.page import page_about

    crops = [target if target is not None else draw(codes[i]) for i, (_, _, target) in enumerate(encoded)]
    return page_about(paths, crops)


def _shared_summary(session: Session, paths: Sequence[Path], *, started: float, hash_weights: bool,
                    timings: dict | None = None) -> dict:
    """The keys that every verb run on a model (morph and its batch rows, encode, render, mix) prints alike,
    built here only: `inputs` (the paths as given, in order), `weights` {"id", "path", "sha256"}, `device`,
    `precision` (the session's rendering precision: the frames, the likeness report's reconstructions) and
    `timings` in seconds: `load`, the verb's own stages (`timings`), `total` since `started`.

    `sha256` is the weights' digest where the run keys a cache on it anyway (`hash_weights`: morph, encode
    and mix with their code cache on; hashed once per file version, `sha256_record`), and otherwise only if
    already known (a preset's is, verified on loading), else null: a 1.2 GB checkpoint is never hashed
    just to print its digest (render, which caches nothing, and --no-cache)."""
    sha256 = session.weights_sha256 if hash_weights else session.known_weights_sha256
    return {"inputs": [str(p) for p in paths],
            "weights": {"id": session.weights.id, "sha256": sha256, "path": str(session.weights.path)},
            "device": str(session.device), "precision": precision_name(session.precision),
            "timings": {"load": round(session.load_seconds, 3), **(timings or {}),
                        "total": round(time.perf_counter() - started, 3)}}


def _resized(frame: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.LANCZOS))


def encode(image: str | os.PathLike, output: str | os.PathLike, *, weights: str | None = None,
           device: str | None = "auto", align: bool | None = None, face: Faces = None,
           refine: int = 0, refine_loss: str = "l2+lap", seed: int = 0, cache: bool = True,
           save_aligned: str | os.PathLike | None = None, log: Log = python_log, progress: bool = False) -> dict:
    """Encode one image to a W+ code and write it as float32 `[n_latent, w_dim]` `.npy` (latent_avg included;
    [18, 512] for the FFHQ model, [10, 128] for the demo). `log`, `progress` and errors as for `morph`. Returns
    the summary `interp encode --json` prints."""
    started = time.perf_counter()
    check_paths(image=image, output=output, save_aligned=save_aligned)
    check_function("log", log)
    align, cache, progress = check_flags(align=align, cache=cache, progress=progress).values()
    path = check_inputs([image], [output])[0]
    code_input(path, "encode")
    output_paths.check_verb_output("encode", output)
    aligned = plan_aligned([path], save_aligned, [("output", output)])
    faces = faces_for([path], face, align)
    check_refine_steps(refine)
    check_seed(seed)
    session = Session(weights, device, log=log, progress=progress)
    with Outputs() as outputs:  # the code and the crop, moved into place together at the end
        settings = [replace(these, aligned_as=aligned[0], outputs=outputs) for these in _input_settings(
            EncodeSettings(align=align, refine=refine, refine_loss=refine_loss, seed=seed, cache=cache), faces, [path])]
        calls = session.encoder_calls
        code, _, target = session.encode_inputs([path], settings, release_encoder=True)[0]  # refines without it
        _say_reused(session, [path], calls, log)
        reconstruction = session.likeness([path], code[None], [target], refined=refine,
                                          suggest_tune=False)  # encode has no --tune
        write.stage_image(outputs, output, code, record=session.code_record)
        outputs.commit()
    return {"output": str(output), "shape": list(code.shape), "reconstruction": reconstruction,
            **_shared_summary(session, [path], started=started, hash_weights=cache)}


def render(codes: str | os.PathLike, output: str | os.PathLike, *, weights: str | None = None,
           device: str | None = "auto", precision: str = "auto", noise: str = "const", seed: int = 0,
           truncation: float = 1.0, log: Log = python_log, progress: bool = False) -> dict:
    """Render a code file (`[n_latent, w_dim]` or `[1, n_latent, w_dim]`) to an RGB PNG, or the raw float image
    `[3, H, W]` as .npy. `log`, `progress` and errors as for `morph`. Returns the summary `interp render --json`
    prints."""
    started = time.perf_counter()
    check_paths(codes=codes, output=output)
    check_function("log", log)
    check_flags(progress=progress)
    path = check_inputs([codes], [output])[0]
    code_input(path, "render")
    kind = output_paths.check_verb_output("render", output)
    truncation = check_number("truncation", truncation, *TRUNCATION)
    seed = check_seed(seed)
    check_choice("noise", noise, NOISE_MODES)  # before the model loads, as morph's
    try:
        session = Session(weights, device, log=log, progress=progress, precision=precision)
    except WeightsUnavailableError as err:  # codes belong to the model that made them: no demo model offered
        raise _with_code_maker(err.for_command("render"), path, weights) from None
    session.release_encoder()
    code = session.load_codes(path)
    if kind == "npy":
        avg = session.model.average_w() if truncation != 1.0 else None
        image = render_float(session.model.generator, code, noise=session.noise(noise, seed),
                             truncation=truncation, truncation_latent=avg, precision=session.precision)
        write.write_image(output, image.astype(np.float32))
    else:
        frame = next(session.frames([code], batch_size=1, noise=noise, seed=seed, truncation=truncation))
        write.write_image(output, frame)
    return {"output": str(output), "width": session.model.size, "height": session.model.size,
            **_shared_summary(session, [path], started=started, hash_weights=False)}  # no cache: never hashed


def _with_code_maker(err: WeightsUnavailableError, code: Path, weights: str | None) -> WeightsUnavailableError:
    """`err`, ending in the weights `code` records it was made by where they are not the ones that failed: a code
    encoded offline with the demo model was told to fetch the FFHQ weights, which would then refuse it."""
    made = code_maker(code)
    if made is None or made == (weights or default_weights_spec()):
        return err
    # A preset's or hub file's id is what --weights takes; a local file is recorded by its name alone.
    named, spec = (f"the {made} weights", made) if made in PRESETS or "/" in made else (
        f"the weights file {made}", f"/path/to/{made}")
    told = f". {code} was made by {named}: to render it, pass `{option('weights', spec)}`"
    return WeightsUnavailableError(err.core, {command: advice + told for command, advice in err.advice.items()})


def mix(inputs: Sequence[str | os.PathLike], output: str | os.PathLike, *, coarse: str = "a",
        middle: str | None = None, fine: str = "b", weights: str | None = None, device: str | None = "auto",
        precision: str = "auto", noise: str = "const", seed: int = 0, align: bool | None = None,
        face: Faces = None, cache: bool = True, log: Log = python_log, progress: bool = False) -> dict:
    """Style mixing: coarse rows (pose, face shape) from one input, middle and fine rows from others.

    `coarse`/`middle`/`fine` name inputs by letter (a, b, c) or 1-based number (1, 2, 3); `middle`
    defaults to the coarse source. There are two or three inputs, each named by one of them: an input
    that none names would be read for nothing, which is more likely a slip than a wish. `log`, `progress`
    and errors as for `morph`. Returns the summary `interp mix --json` prints.
    """
    started = time.perf_counter()
    inputs = refuse_one_path(inputs, "inputs")  # a generator, read once
    check_paths(output=output)
    check_function("log", log)
    align, cache, progress = check_flags(align=align, cache=cache, progress=progress).values()
    sources = mix_sources([Path(p) for p in inputs], coarse, middle, fine)  # the count first: one path is no mix
    paths = check_inputs(inputs, [output])
    refuse_one_face_mix(paths, sources)
    kind = output_paths.check_verb_output("mix", output)
    faces = faces_for(paths, face, align)
    seed = check_seed(seed)
    check_choice("noise", noise, NOISE_MODES)  # before the model loads, as morph's
    session = Session(weights, device, log=log, progress=progress, precision=precision)
    settings = _input_settings(EncodeSettings(align=align, cache=cache), faces, paths)
    used = sorted(set(sources.values()))
    calls = session.encoder_calls
    codes = {i: code for i, (code, _, _) in zip(used, session.encode_inputs([paths[i] for i in used],
                                                                             [settings[i] for i in used]))}
    _say_reused(session, [paths[i] for i in used], calls, log)
    mixed = blend.mix_codes(codes[sources["coarse"]], codes[sources["middle"]], codes[sources["fine"]],
                            session.model.n_latent)
    if kind == "npy":
        write.write_image(output, mixed, record=session.code_record)
    else:
        write.write_image(output, next(session.frames([mixed], batch_size=1, noise=noise, seed=seed)))
    return {"output": str(output), "sources": {k: str(paths[v]) for k, v in sources.items()},
            **_shared_summary(session, paths, started=started, hash_weights=cache)}


def __getattr__(name: str):
    # `pipeline.batch` is the batch verb's public name; it lives in interp_cli.batch, which drives `morph`.
    if name == "batch":
        from interp_cli.batch import batch

        return batch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "batch"])  # so help() and dir() show the batch verb beside the others
