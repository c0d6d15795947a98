"""`interp batch`: every row of a manifest (`interp_cli.manifest` reads them, `interp_cli.batch_plan` places and
checks them) morphed with one loaded model; a failed row fails alone and the others go on.

    from interp_cli.batch import batch      # also interp_cli.pipeline.batch
    summary = batch("pairs.csv", "out/", shard="2/3", weights="ffhq", steps=60)
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from interp_cli import stops
from interp_cli import progress as progress_bars
from interp_cli.checks import check_flags, check_function, check_refine_steps, check_shared_numbers, check_tune_steps
from interp_cli.errors import InterpError, UsageError, face_without_alignment, one_line, option
from interp_cli.failures import reported, retold, stops_a_batch
from interp_cli.claims import claimed
from interp_cli.files import make_folders, project_id, remove_folders
from interp_cli.inputs import check_input_files, paste_without_alignment
from interp_cli.layers import check_layers
from interp_cli.names import line_text
from interp_cli.batch_plan import (PLANNED_CHOICES, BatchPlan, Placement, make_outdir, missing_folders, plan_batch,
                                   sheet_name)
from interp_cli.manifest import Row
from interp_cli.shards import Shard
from interp_cli.options import MORPH_OPTION_NAMES
from interp_cli.progress import Log, python_log
from interp_cli.weights import check_weights_name
from interp_cli.output_paths import check_morph_outputs, check_output_path, names_a_morph_file


# morph's on/off keywords, which `check_flags` checks.
MORPH_FLAGS = ("align", "loop", "pingpong", "paste", "match_colour", "cache")


def batch(manifest: str | os.PathLike, outdir: str | os.PathLike, *, shard: str | Shard = "1/1",
          skip_existing: bool = False, sheets: bool = False, weights: str | None = None,
          device: str | None = "auto", precision: str = "auto", on_row: Callable[[dict], None] | None = None,
          log: Log = python_log, progress: bool = False, checked: BatchPlan | None = None, failures: Log | None = None,
          keep_results: bool = True, **morph_options) -> dict:
    """Run `morph` for this shard's rows of a manifest (see `interp_cli.manifest`) with one loaded model.

    `shard` "K/N" or "auto[/N]" picks rows (row i to shard ((i-1) mod N)+1); `skip_existing` skips a
    row whose outputs all exist without reading its inputs; `sheets` adds NAME.sheet.png per row;
    `morph_options` are `morph`'s keywords, the same for every row (one it does not take is a TypeError before
    any work, also when the shard has nothing to make). A bad manifest or shard, weights that name nothing, two
    rows with one output name, or a `refine` or `tune` step count out of range raise UsageError before any work;
    `checked` is what `batch_plan.plan_batch` returned for these same arguments, so a caller that checked first
    does not plan twice. A failed row is reported, not fatal: its line goes to `failures` (default: `log`), so a
    caller can keep errors when it silences progress. `log` and `progress` as for `morph` (by default nothing is
    printed: a row's line is a note on the "interp_cli" logger, a warning an `InterpWarning`). The pipeline (and
    torch) is imported only by a shard with a row to make whose outputs can be written (a read-only --outdir is
    found before it), and the model loaded only once a row needs it, so a finished shard reruns in a moment.

    Returns {"shard", "manifest", "rows" (this shard's), "manifest_rows", "made", "skipped", "failed", "seconds",
    "results"}: one result per row, also passed to `on_row` as it finishes: {"row", "line", "manifest", "ok",
    "skipped", "output", "timings", ...} plus the morph summary, or "error" and "exit_code" (`keep_results=False`:
    only each one's "row", "ok" and "skipped", for a caller that takes the rest from `on_row`; a whole result is
    about 2.8 KB, 280 MB over 100,000 rows in one process). `manifest` is
    the manifest's name as given, which a failed row's line starts its reason with (`pairs.csv:12: ...`). A row
    is claimed while it is made (`claims.claimed`): one that another live worker is making is skipped, with
    "claimed_elsewhere": True.
    Stopped (KeyboardInterrupt, SIGTERM as `Terminated`, a caller's handler's `stops.CallersStop`), it re-raises
    with the summary so far, plus "stopped": True, as the exception's `batch_summary`; an error that stops the
    whole batch (unusable weights or device, found when the first row needs the model) carries the summary so far
    likewise.
    """
    started = time.perf_counter()
    for forbidden in ("sheet", "session"):
        if forbidden in morph_options:
            raise TypeError(f"batch() got {forbidden}=: rows are placed by the manifest (use sheets=True)")
    # A misspelt option is the caller's error, said before any work and whatever the shard holds: it would
    # otherwise fail every row, after the model loaded, as an internal error, or pass unseen where every row
    # is made already (the pipeline, whose signature says what morph takes, is not imported then).
    unknown = sorted(set(morph_options) - MORPH_KEYWORDS)
    if unknown:
        raise TypeError(f"batch() got an unexpected keyword argument {unknown[0]!r} (not one of morph's options)")
    # A caller's wrong kind of argument, refused once before any work: every row would fail alike (log=5), or
    # every row do the opposite of what was asked (loop="no" looped).
    check_function("log", log)
    check_function("on_row", on_row, optional=True)
    check_function("failures", failures, optional=True)
    skip_existing, sheets, progress, keep_results = check_flags(skip_existing=skip_existing, sheets=sheets,
                                                                progress=progress, keep_results=keep_results).values()
    morph_options.update(check_flags(**{key: morph_options[key] for key in MORPH_FLAGS if key in morph_options}))
    # --face with alignment off would fail every row alike: refused once, before any work (explicitly off)
    # or as soon as the model says it takes its inputs as they are.
    picks_faces = morph_options.get("face") is not None and not morph_options.get("paste") \
        and morph_options.get("backdrop") is None
    if picks_faces and morph_options.get("align") is False:
        raise UsageError(face_without_alignment(None, explicit=True))
    # So would --paste (or --backdrop) with alignment off.
    pastes = morph_options.get("paste") or morph_options.get("backdrop") is not None
    if pastes and morph_options.get("align") is False:
        raise UsageError(paste_without_alignment())

    check_layers(morph_options.get("layers", "all"))
    # Likewise a step count out of range: every row would fail alike, each after the model had loaded.
    check_refine_steps(morph_options.get("refine", 0))
    check_tune_steps(morph_options.get("tune", 0))
    # And steps=1, or --steps and --hold that make too many frames for even two inputs, fps=0 from Python...
    check_shared_numbers(morph_options)

    def new_session():
        """The pipeline and a Session on the weights: made when the first row to make is reached."""
        pipeline = _pipeline()
        session = pipeline.Session(weights, device, log=log, progress=progress, precision=precision)
        if picks_faces and morph_options.get("align") is None and not session.aligns_by_default:
            raise UsageError(face_without_alignment(None, explicit=False))
        # --layers 0-99 on a 10-row model: every row would fail alike, so the batch stops (exit 2) instead.
        # (interp_cli.blend, and numpy with it, as the pipeline imported them: a batch with nothing to make
        # needs neither.)
        pipeline.blend.parse_layers(morph_options.get("layers", "all"), session.model.n_latent)
        return pipeline, session

    checked = checked or plan_batch(manifest, outdir, shard=shard, sheets=sheets,
                                    **{key: morph_options[key] for key in PLANNED_CHOICES if key in morph_options})
    shard, rows, plan, mine = checked.shard, checked.rows, checked.placements, checked.mine
    results = []

    where = os.fspath(manifest)
    made: list[Path] = []  # the folders --outdir needed made, once it is made

    def summary(**extra) -> dict:
        return {"shard": str(shard), "manifest": where, "rows": len(mine), "manifest_rows": len(rows),
                "made": sum(r["ok"] and not r["skipped"] for r in results),
                "skipped": sum(r["skipped"] for r in results), "failed": sum(not r["ok"] for r in results),
                "seconds": round(time.perf_counter() - started, 3), **extra, "results": results}

    try:
        for warning in checked.warnings:  # once, before the rows: under --json, in the first row's "warnings"
            log(f"warning: {warning}")
        # A typo in --weights (or $INTERP_WEIGHTS) is said by every task of an array, those with nothing to
        # make too: a rerun with --skip-existing then fails as a whole, not only where rows are left.
        check_weights_name(weights)
        if _reaches_the_model(mine, plan, skip_existing, Path(outdir)):
            _pipeline()  # before --outdir is made: stopped in the import, a batch leaves nothing
        made = missing_folders(outdir)
        outdir = make_outdir(outdir)
        kept = results.append if keep_results else \
            (lambda result: results.append({key: result[key] for key in ("row", "ok", "skipped")}))
        _batch_rows(where, mine, plan, outdir, skip_existing, kept, on_row, log, failures or log, progress,
                    new_session, morph_options)
    except (*stops.STOPS, Exception) as cut:
        # Refused as a whole once the model was loaded (--face where it takes its inputs as they are, --layers
        # past its rows), stopped, or cut short before a row was made: the --outdir it made is not left behind.
        _remove_if_nothing_made(results, made)
        # Ctrl-C or SIGTERM (a scheduler's time limit; a Python caller's own handler's exception too), or a fatal
        # error: the caller still gets what was done, to report it.
        try:
            cut.batch_summary = summary(stopped=True) if isinstance(cut, stops.STOPS) else summary()
        except AttributeError:  # an exception type that takes no attributes: reported without the rows
            pass
        raise
    _remove_if_nothing_made(results, made)
    return summary()


def _remove_if_nothing_made(results: Sequence[dict], made: list[Path]) -> None:
    """Remove the folders this batch made for --outdir (`made`) when none of its rows was made or skipped: a batch
    whose rows all failed left an empty folder, which a later `ls` or `--skip-existing` run read as a batch begun.
    Only while empty (`remove_folders`: rmdir): a folder into which another shard sharing it has written, or whose
    row holds its claim there, stays. Another shard that found the folder made makes it again for each row, just
    before it claims the row's name there (`_make_parent`): only a removal landing between those two calls,
    microseconds apart, fails that row (its line says the folder is missing; a rerun makes it)."""
    if not any(result["ok"] for result in results):
        remove_folders(made)


# What `morph_options` may hold, known without importing the pipeline: the command's morph options (weights,
# device and precision among them, which `batch` takes by name) and sheet_frames, which only a Python caller
# passes. tests/test_batch.py holds it to morph's signature less what a batch decides itself.
MORPH_KEYWORDS = MORPH_OPTION_NAMES | {"sheet_frames"}


def _pipeline():
    """`interp_cli.pipeline`, imported (with torch) by a batch only once it has a row to make.

    The one place a batch imports it, so that a shard with nothing to make never does: a Slurm array rerun with
    --skip-existing after a partial failure is mostly such shards, and torch's import was nine tenths of each
    one's time (benchmarks/README.md, "A batch with nothing to make"); so are an empty shard (more tasks than
    rows) and one whose rows all fail before the model. Imported with stops held (`stops.import_pipeline`)."""
    return stops.import_pipeline()


def _to_make(row: Row, place: Placement, skip_existing: bool) -> bool:
    """Whether a row needs the model: not refused by its plan, not made already, its inputs there."""
    return place.error is None and not _made(place, skip_existing) and _refused_inputs(row, place) is None


def _reaches_the_model(mine: Sequence[Row], plan, skip_existing: bool, outdir: Path) -> bool:
    """Whether some row of the shard will need the model, its rows taken in order as `_batch_rows` takes them: one
    to make whose outputs can be written (`_refused_outputs`). A read-only --outdir stops the batch at its first
    row to make, so the rows after it are not looked at: such a batch never imports torch nor loads the model
    only to fail its first row's write check (3.9 s with a page-cached 1024 px checkpoint, now 0.25 s;
    benchmarks/README.md)."""
    home = _file_system(outdir)
    for row in mine:
        place = plan[row.number]
        if not _to_make(row, place, skip_existing):
            continue
        refused = _refused_outputs(place)
        if refused is None:
            return True
        if stops_a_batch(refused) and _file_system(place.targets[0].parent) == home:
            return False
    return False


def _refused_outputs(place: Placement) -> Exception | None:
    """What the row's outputs would first be refused for (`check_morph_outputs`: a folder named like a file, `x.html`
    or the sheet's; a folder that is read-only or not writable, a frames folder holding other files), or None: the
    check `morph` makes, made before the model is loaded for the row (a row refused for a folder `x.html` loaded
    it, seconds, first). Its subfolders may not exist yet (they are made just before the row): the nearest
    folder that does must take them."""
    try:
        check_morph_outputs(place.output, _sheet(place))
    except Exception as err:  # whatever morph would raise there, as the row's error
        return err
    return None


def _made(place: Placement, skip_existing: bool) -> bool:
    """Under --skip-existing, whether every output of a row is there (it is then skipped, its inputs unread), as
    what the row makes: a folder for its frames, else a file. A folder named `x.gif` is no GIF made: the row goes
    on to be refused for it, as without the flag, where it was skipped as "exists"."""
    if not skip_existing:
        return False
    file = names_a_morph_file(place.output)  # else frames: a name with / or none of these types (`v1.0`, a folder)
    return all(target.is_file() if file or i else target.is_dir() for i, target in enumerate(place.targets))


def _refused_inputs(row: Row, place: Placement) -> Exception | None:
    """What `morph` would first refuse the row's inputs for, or None: the stat of each (`inputs.check_input_files`;
    decoding a photo is left to morph, which does it anyway), made here too so that a row whose photo is missing
    fails with that same error before the model is loaded for it."""
    try:
        check_input_files(row.inputs, [place.output, ("sheet", _sheet(place))])
    except Exception as err:  # whatever morph would raise there, as the row's error
        return err
    return None


def _named(outdir: Path, name: str, target: Sequence[Path]) -> str:
    """A row's file as its JSON and lines name it: under --outdir as given, as the manifest names it; where that name
    climbs out of a folder (`sub/../m1.gif`), by where it was written (`out/m1.gif`): "out/sub/../m1.gif" named a
    path no one could open, `sub` never being made (`interp morph -o sub/../m.gif` makes it). A frames folder keeps
    the slash that makes it one, as `interp morph -o frames/ --json` names it ("out/frames" was a file's name)."""
    folder = os.sep if name.endswith(("/", os.sep)) else ""
    if ".." in Path(name).parts and target and target[0].is_relative_to(base := outdir.resolve()):
        return f"{outdir / target[0].relative_to(base)}{folder}"
    return f"{outdir / name}{folder}"


def _sheet(place: Placement) -> str | None:
    """The row's --sheets contact sheet (its second target), if it has one."""
    return str(place.targets[1]) if len(place.targets) > 1 else None


def _batch_rows(where, mine, plan, outdir, skip_existing, keep, on_row, log, failures, progress, new_session,
                morph_options):
    pipeline = session = None
    # A full, over-quota or read-only file system stays so for the next row. Found on --outdir's own, it stops
    # the batch: each row after it would load, encode and render (a minute at 1024 px) only to fail alike.
    # Found on another one mounted below it (a read-only share, a scratch disk), or in a folder below it of
    # another project than --outdir's (a project quota: EDQUOT, or ENOSPC on XFS, which says a project is full
    # as if its folder were a disk), the row fails alone, and so, at once, does each later row that writes there:
    # the rest of the manifest goes on. A user's or group's quota has no such folder: the batch stops.
    home, full = _file_system(outdir), {}  # full: file system -> the row error that found it so
    # The folders made for failed rows that stayed because another worker's claim or temp sat inside at their
    # removal (shards sharing a subfolder, a shard run twice): removed again, only while empty, at this worker's end,
    # by when that worker's row is likely done. Only folders this worker made: never a user's own empty folder.
    left: list[Path] = []
    # One bar over this shard's rows; each row's own bars sit below it on a terminal.
    with progress_bars.bar(len(mine), "batch", unit="row", enabled=progress) as bar, _removed_at_end(left):
        for position, row in enumerate(mine, 1):
            stops.raise_swallowed()  # a stop Python could only print (stops' module doc) ends the batch here
            row_started, stop = time.perf_counter(), None
            place = plan[row.number]
            shown = _named(outdir, row.name, place.targets[:1])
            result = {"row": row.number, "line": row.line, "manifest": where, "inputs": list(row.inputs),
                      "output": shown if row.name else None}
            # A failed row is said where the manifest's other messages say a row (`jobs/pairs.csv:12: ...`):
            # the JSON line has the same place as "manifest" and "line", its "error" the reason alone.
            failed_at = f"[{position}/{len(mine)}] row {row.number} failed: {one_line(where)}:{row.line}:"
            if place.error is not None:
                error = one_line(place.error)
                result.update(ok=False, skipped=False, error=error, exit_code=UsageError.exit_code)
                failures(line_text(f"{failed_at} {error}"))
            elif _made(place, skip_existing):
                result.update(ok=True, skipped=True)
                log(f"[{position}/{len(mine)}] row {row.number}: skipped, {shown} exists")
            else:
                failed = _refused_inputs(row, place)  # a missing photo fails its row before a model loads
                found = full.get(_file_system(place.targets[0].parent)) if full and failed is None else None
                if found is not None:
                    failed = retold(found, f"{shown}: not tried, as row {found.row} failed on its file system: "
                                           f"{found}")
                row_folders: list[Path] = []  # the subfolders made for this row, outermost first
                if failed is None:
                    try:
                        _make_parent(place.targets, row_folders)
                    except InterpError as err:
                        failed = err
                if failed is None:  # a read-only folder fails its row before the model loads for it
                    failed = _refused_outputs(place)
                try:
                    if failed is None:
                        # Claimed for as long as it is made: a second worker given the same rows (a requeued job
                        # whose first copy still runs, a task submitted twice) leaves it to this one, and goes on.
                        with claimed(place.targets[0]) as ours:
                            if not ours or _made(place, skip_existing):  # ...or made by such a worker meanwhile
                                result.update(ok=True, skipped=True, **({} if ours else {"claimed_elsewhere": True}))
                                log(f"[{position}/{len(mine)}] row {row.number}: skipped, {shown} "
                                    f"{'exists' if ours else 'is being made by another worker'}")
                            else:
                                if session is None:  # not the row's fault: unusable weights stop the whole batch
                                    pipeline, session = new_session()
                                try:
                                    with pipeline.planned_crops(place.crops):  # planned from the whole manifest
                                        summary = pipeline.morph(row.inputs, place.output, sheet=_sheet(place),
                                                                 session=session, log=log, progress=progress,
                                                                 **morph_options)
                                    # Both named as --outdir and the manifest name them, not as resolved.
                                    named = {"output": shown}
                                    if summary.get("sheet") is not None:
                                        named["sheet"] = _named(outdir, sheet_name(row.name), place.targets[1:])
                                    result.update(ok=True, skipped=False, **{**summary, **named})
                                    log(f"[{position}/{len(mine)}] row {row.number}: wrote {shown} "
                                        f"({time.perf_counter() - row_started:.1f}s)")
                                except Exception as err:  # whatever one row holds, it fails alone and the others go on
                                    failed = err
                except BaseException:  # stopped mid-row: the folders made for it go, as its temps do
                    remove_folders(row_folders)
                    raise
                if failed is not None:
                    err = _row_error(failed, shown, outdir, place.targets)
                    # One line, as every message: a quoted cell may put a line break in an input's name.
                    error = one_line(err)
                    result.update(ok=False, skipped=False, error=error, exit_code=err.exit_code)
                    failures(line_text(f"{failed_at} {error}"))
                    # A failed row leaves nothing in --outdir, as `interp morph` with its -o leaves nothing: not the
                    # empty subfolders `deep/er/` its name asked for (only while empty: another row may write there).
                    remove_folders(row_folders)
                    left.extend(folder for folder in row_folders if os.path.isdir(folder))
                    disk = _file_system(place.targets[0].parent) if stops_a_batch(failed) and found is None else None
                    if disk is not None and disk != home:
                        full[disk] = err
                        err.row = row.number
                    elif disk is not None and position < len(mine):
                        stop = retold(err, f"batch stopped after row {row.number}: {err}; the rows after it would "
                                      f"fail alike (to make them, rerun with {option('skip_existing', True)})")
            result.setdefault("timings", {})["row"] = round(time.perf_counter() - row_started, 3)
            keep(result)
            if on_row is not None:
                on_row(result)
            bar.update()
            if stop is not None:
                raise stop


@contextlib.contextmanager
def _removed_at_end(folders: list[Path]) -> Iterator[None]:
    """`files.remove_folders(folders)` when the block ends, however it ends."""
    try:
        yield
    finally:
        remove_folders(folders)


def _file_system(folder: Path) -> tuple[int, bool | None, int | None] | None:
    """The file system that `folder`, or the nearest folder above it that exists, lies on: its device, whether
    it is mounted read-only there (a read-only bind mount of a subfolder has its parent's device), and the project
    the folder is in (`files.project_id`: a project quota is a full disk for that project's folders only)."""
    for place in (folder, *folder.parents):
        try:
            device = os.stat(place).st_dev
        except OSError:
            continue
        try:
            read_only = bool(os.statvfs(place).f_flag & os.ST_RDONLY)
        except (AttributeError, OSError):  # no statvfs (Windows)
            read_only = None
        return device, read_only, project_id(place)
    return None


def _row_error(err: Exception, output: str, outdir: Path, targets: Sequence[Path]) -> InterpError:
    """A batch row's failure as the one line its JSON `error` and the log show (`failures.reported`, naming
    the row's output where nothing else is named; the batch goes on, and `interp morph` on the row with
    --debug shows where an internal error came from).

    The row's files are named as its JSON `output` names them, under --outdir as given: the writers
    know only the resolved `targets`, and "/home/u/job/out/x.mp4: cannot write" beside `"output":
    "out/x.mp4"` reads as two files."""
    told = reported(err, "batch", output)[0]
    line, base = str(told), outdir.resolve()
    for target in sorted(targets, key=lambda t: len(str(t)), reverse=True):
        if target.is_relative_to(base):
            line = line.replace(str(target), str(outdir / target.relative_to(base)))
    line = line.replace(f"'{base}", f"'{outdir}")  # a folder the writer names, quoted: --outdir's own or below it
    return told if line == str(told) else retold(told, line)


def _make_parent(targets: Sequence[Path], made: list[Path]) -> None:
    """Create a row's subfolders (its targets are already known to lie inside --outdir) through the one home for
    making folders (`files.make_folders`), each one made added to `made` (outermost first) for
    `files.remove_folders` if the row fails or is stopped: stops are held until it is listed. A folder another
    worker made meanwhile is theirs, not listed; one that worker found made and writes in is removed only while
    empty, and only a removal landing between its making it again and its claim there (`_remove_if_nothing_made`'s
    race) fails its row."""
    for target in targets:
        try:
            with stops.deferred():
                made.extend(make_folders(target.parent, str(target)))
        except InterpError as err:
            if getattr(err, "errno", None) is None:
                # A file where the row's name puts a folder, perhaps above it, or a link to nothing: the output
                # check names what is in the way, as for `interp morph -o`.
                check_output_path(target)
                raise
            # A folder above it this user cannot write, or on a read-only mount: said as `interp morph -o` says it,
            # naming the output and that folder ("'out/sub': cannot create the folder (Permission denied)" named a
            # folder that does not exist, in the OS's capitals); with its errno, so a read-only one stops the batch.
            check_output_path(target)
            # Else with the errno and exit code the OS error is told by (`failures.environment_error`): a full --outdir
            # found here stops the batch, as when found by the write check.
            told = retold(err, f"'{target.parent}': cannot create the folder ({os.strerror(err.errno)})")
            told.path = str(target.parent)
            raise told from None
