"""The `interp` command's verbs: parse and validate options, call `interp_cli.pipeline`. How the line is read
and every failure becomes one line and an exit code is `interp_cli.cli_group`'s.

    interp a.png b.png --steps 60 -o out.mp4      # the default command: morph
    interp encode a.png -o a.npy                  # and the verbs beside it

Heavy modules (torch, the networks) are imported inside the commands, never at module level,
so `interp --help` and argument errors answer instantly.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from interp_cli import __version__, stops
from interp_cli.checks import digits_only, openmp_takes, openmp_wait_policy_takes
from interp_cli.cli_group import DefaultMorphGroup, WeightsGroup, failure_report
from interp_cli.console import (PROCESS_WARNINGS, CommandLog, StdoutClosed, closing_json, emit, json_line, out,
                                settle_std_streams, with_warnings)
from interp_cli.names import line_text
from interp_cli.limits import ALIGN_SIZE, NOISE_MODES
from interp_cli.malloc import freeze_imports_here, keep_freed_memory
from interp_cli.options import (SEED, IntRange, PathName, ShardType, align_options, cache_option, device_option,
                                morph_options, morph_settings, noise_options, output_flags, precision_option,
                                refine_options, save_aligned_option, weights_option)
from interp_cli.stops import ignore_stops, stop_exit_code

EPILOG = """\b
Examples:
  interp a.png b.png --steps 60 -o out.mp4
  interp a.png b.png c.png --loop --ease smooth -o loop.gif
  interp a.png b.png --weights demo --no-align -o frames/
  interp a.png b.png -o morph.html
  interp a.png b.png --layers coarse --sheet sheet.png -o out.mp4
  interp a.jpg b.jpg --paste -o in_the_photo.mp4

Exit codes: 0 ok, 1 runtime failure (also a full disk), 2 usage error, 129 hung up (a closed
session, unless nohup), 130 interrupted, 141 stdout closed early, 143 terminated.

\b
--debug (anywhere on the line, any command): a traceback for failures other
than usage errors, and interp's debug notes; exit codes stay the same.
"""


def _progress(quiet: bool, as_json: bool) -> bool:
    from interp_cli.progress import wanted

    return wanted(quiet=quiet, as_json=as_json)


def _likeness_line(summary: dict) -> str:
    from interp_cli.likeness import describe

    return describe(summary["reconstruction"])


@click.group(cls=DefaultMorphGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=EPILOG)
@click.version_option(__version__, "--version", prog_name="interp")
def cli():
    """Morph one face photo into another through StyleGAN2's latent space.

    With no command, the arguments are those of `interp morph`: interp A B [C ...] [options].
    """


@cli.command(epilog=EPILOG)
@click.argument("inputs", nargs=-1, required=True, metavar="A B [C ...]")
@click.option("-o", "--output", default="morph.mp4", show_default=True, metavar="PATH",
              help="out.mp4 (H.264), out.gif, out.html (a page to drag through the frames, offline; about "
                   "220 KB a 1024 px frame, 1.4 KB a 64 px one), a .png contact sheet, or a folder for "
                   "frame_0000.png ... (a new one ends in /: frames/).")
@morph_options
@click.option("--sheet", type=PathName(dir_okay=False), default=None, metavar="PNG",
              help="Also write a contact sheet of evenly spaced frames (--hold's copies left out) with the inputs "
                   "beside them.")
@output_flags
def morph(inputs, output, sheet, quiet, as_json, **params):
    """Morph A into B (and on through C ...) and write a video, GIF, HTML page, frames or contact sheet.

    Inputs are photos (png, jpg, ...) or .npy codes from `interp encode`.
    """
    if click.get_current_context().get_parameter_source("output") is click.core.ParameterSource.DEFAULT:
        _refuse_output_among_inputs(inputs)
    _check_paths_exist(inputs, [output, ("sheet", sheet)])
    from interp_cli.weights import check_weights_name
    from interp_cli.output_paths import check_morph_outputs, refuse_suffixless

    refuse_suffixless(output)
    if len(inputs) < 2:
        raise click.UsageError("need at least two images to morph between (interp A B [C ...])")
    # What the morph would refuse -o, --sheet, --weights, --save-aligned, --backdrop, --face or --paste for (as
    # `pipeline.morph` does, in these same functions), said before torch's import (a second or more), not after it.
    kind = check_morph_outputs(output, sheet, params["size"])
    check_weights_name(params["weights"])
    from interp_cli.inputs import morph_choices, plan_aligned, refuse_oversized_frames

    paths = [Path(p) for p in inputs]
    plan_aligned(paths, params["save_aligned"], [("output", output), ("sheet", sheet)])
    backdrop, _ = morph_choices(paths, **{key: params[key] for key in ("steps", "loop", "pingpong", "hold", "paste",
                                                                       "backdrop", "align", "face")})
    _check_image_headers(paths)
    refuse_oversized_frames(paths, backdrop, output, kind, params["size"], params["fps"])
    pipeline = stops.import_pipeline()

    log = CommandLog(quiet, as_json)
    summary = pipeline.morph(inputs, output, sheet=sheet, **morph_settings(params), log=log,
                             progress=_progress(quiet, as_json))
    emit(summary, log, quiet, f"wrote {_written(summary)} in {summary['timings']['total']:.1f}s\n"
                              f"{_likeness_line(summary)}")


def _check_before_import(verb: str, output, weights) -> None:
    """What `encode`, `render` or `mix` would refuse -o or --weights for, said before torch's import (a second
    or more), not after it, as `interp morph` does."""
    from interp_cli.weights import check_weights_name
    from interp_cli.output_paths import check_verb_output

    check_verb_output(verb, output)
    check_weights_name(weights)


def _refuse_output_among_inputs(inputs) -> None:
    """`interp a.jpg b.jpg out.mp4`, -o forgotten: the last word names what only an output can be (a video, a
    page, a folder), so say -o rather than "out.mp4: no such file" (or "not an image", once a run made it)."""
    last = inputs[-1]
    if len(inputs) > 2 and (last.endswith(("/", os.sep)) or os.path.splitext(last)[1].lower() in (".mp4", ".html")):
        import shlex

        raise click.UsageError(f"{last}: given as an input, but a morph's inputs are images or .npy codes; to "
                               f"write the morph there, name it with -o: `-o {shlex.quote(last)}`")


def _written(summary: dict) -> str:
    """What a morph wrote, as a person would check it: a contact sheet is one image, not the frames."""
    frames = f"{summary['frames']} frames, {summary['width']}x{summary['height']}"
    sheet = summary.get("sheet_size")
    if summary["kind"] == "png":
        copy = f" and {line_text(summary['sheet'])}" if summary["sheet"] else ""
        return (f"{line_text(summary['output'])}{copy} (a contact sheet, {sheet['width']}x{sheet['height']}: "
                f"{sheet['frames']} of {summary['frames']} frames of {summary['width']}x{summary['height']} "
                "beside the inputs)")
    also = f" and the contact sheet {line_text(summary['sheet'])} ({sheet['width']}x{sheet['height']})" if sheet else ""
    return f"{line_text(summary['output'])} ({frames}){also}"


@cli.command()
@click.argument("image")
@click.option("-o", "--output", required=True, metavar="CODES.npy",
              help="Where to write the float32 [n, W] code: the model's n rows of width W (ffhq [18, 512], "
                   "demo [10, 128]), then a record of the model, which np.load leaves unread and which a "
                   "model with another mapping network refuses.")
@weights_option
@device_option
@align_options
@save_aligned_option
@refine_options
@click.option("--seed", type=SEED, default=0, show_default=True, metavar="INTEGER", help="Seed for --refine.")
@output_flags
def encode(image, output, weights, device, align, face, save_aligned, refine, refine_loss, cache, seed,
           quiet, as_json):
    """Encode IMAGE to a W+ code (.npy, latent_avg included).  e.g. interp encode a.png -o a.npy"""
    _check_paths_exist([image], [output])
    _check_before_import("encode", output, weights)
    from interp_cli.inputs import code_input, faces_for, plan_aligned

    code_input(Path(image), "encode")
    plan_aligned([Path(image)], save_aligned, [("output", output)])
    faces_for([Path(image)], face, align)
    _check_image_headers([image])
    pipeline = stops.import_pipeline()

    log = CommandLog(quiet, as_json)
    summary = pipeline.encode(image, output, weights=weights, device=device, align=align, face=face,
                              refine=refine, refine_loss=refine_loss, seed=seed, cache=cache,
                              save_aligned=save_aligned, log=log,
                              progress=_progress(quiet, as_json))
    emit(summary, log, quiet,
         f"wrote {line_text(summary['output'])} {summary['shape']}\n{_likeness_line(summary)}")


@cli.command()
@click.argument("codes")
@click.option("-o", "--output", required=True, metavar="IMAGE.png|IMAGE.npy",
              help="An RGB PNG, or .npy for the raw float image [3, H, W].")
@weights_option
@device_option
@precision_option(encodes=False)
@noise_options(seeds="--noise random")
@output_flags
def render(codes, output, weights, device, precision, noise, seed, truncation, quiet, as_json):
    """Render a W+ code ([n, W] or [1, n, W] .npy, from encode) to an image.  e.g. interp render a.npy -o a.png"""
    _check_paths_exist([codes], [output])
    _check_before_import("render", output, weights)
    from interp_cli.inputs import code_input

    code_input(Path(codes), "render")
    pipeline = stops.import_pipeline()

    log = CommandLog(quiet, as_json)
    summary = pipeline.render(codes, output, weights=weights, device=device, precision=precision, noise=noise,
                              seed=seed, truncation=truncation, log=log,
                              progress=_progress(quiet, as_json))
    emit(summary, log, quiet, f"wrote {line_text(summary['output'])}")


@cli.command()
@click.argument("image")
@click.option("-o", "--output", required=True, metavar="ALIGNED.png", help="Where to write the aligned crop.")
@click.option("--face", type=IntRange(min=0), default=None, metavar="N",
              help="Which face (0 = leftmost). Default: the largest.")
@click.option("--size", type=IntRange(*ALIGN_SIZE), default=1024, show_default=True, help="Output size in px.")
@output_flags
def align(image, output, face, size, quiet, as_json):
    """FFHQ-align a face photo (what the encoder sees).  e.g. interp align photo.jpg -o aligned.png"""
    _check_paths_exist([image], [output])
    from interp_cli.align_verb import align as align_photo  # not the pipeline: no torch for this verb

    log = CommandLog(quiet, as_json)
    summary = align_photo(image, output, face=face, size=size, log=log)
    emit(summary, log, quiet,
         f"wrote {line_text(summary['output'])} (face {summary['face']} of {summary['faces']})")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="A B [C]")
@click.option("-o", "--output", required=True, metavar="MIX.png", help="A .png image or a .npy code.")
@click.option("--coarse", default="a", show_default=True,
              help="Input giving pose and face shape: a, b or c (or 1, 2 or 3).")
@click.option("--middle", default=None, help="Input giving features and hair (default: the --coarse one).")
@click.option("--fine", default="b", show_default=True, help="Input giving colours and fine detail.")
@weights_option
@device_option
@precision_option
@align_options
@click.option("--noise", type=click.Choice(NOISE_MODES), default="const", show_default=True,
              help="Per-layer noise.")
@click.option("--seed", type=SEED, default=0, show_default=True, metavar="INTEGER", help="Seed for --noise random.")
@cache_option
@output_flags
def mix(inputs, output, coarse, middle, fine, weights, device, precision, align, face, noise, seed, cache, quiet,
        as_json):
    """Style mixing: coarse layers from one face, fine from another.

    Two or three inputs, A B [C], each named by --coarse, --middle or --fine as a, b, c or 1, 2, 3.

    e.g. interp mix a.png b.png --coarse a --fine b -o mix.png
    """
    from interp_cli.inputs import faces_for, mix_sources, refuse_one_face_mix

    paths = [Path(p) for p in inputs]
    sources = mix_sources(paths, coarse, middle, fine)  # the count first, as `pipeline.mix` says it: one path is no mix
    _check_paths_exist(inputs, [output])
    refuse_one_face_mix(paths, sources)
    _check_before_import("mix", output, weights)
    faces_for(paths, face, align)
    _check_image_headers(paths)
    pipeline = stops.import_pipeline()

    log = CommandLog(quiet, as_json)
    summary = pipeline.mix(inputs, output, coarse=coarse, middle=middle, fine=fine, weights=weights, device=device,
                           precision=precision, noise=noise, seed=seed, align=align, face=face, cache=cache,
                           log=log, progress=_progress(quiet, as_json))
    emit(summary, log, quiet, f"wrote {line_text(summary['output'])}")


BATCH_EPILOG = """\b
Examples:
  interp batch pairs.csv --outdir out/ --weights demo --steps 30 --json
  interp batch pairs.csv --outdir out/ --shard 2/3 --skip-existing   # worker 2 of 3, resumable
  sbatch --array=1-8 examples/slurm_array.sh pairs.csv out/           # --shard auto inside

\b
Manifest: one row per morph, input1,input2[,input3...],output_name; # comment lines and a
first row ending in "output" (a header) are skipped; relative inputs are relative to the CSV.
A header's named columns after "output" (input1,input2,output,notes) are not read (a warning).
Empty cells are dropped, but a row as wide as the header (a spreadsheet's export) takes its
output from the header's output column: a row with that cell empty fails alone.
Output names are relative paths inside --outdir (subfolders are created), typed as for -o
(x.mp4, x.gif, x.html, an x.png sheet, or x/ for frames); a name that is absolute, climbs out with ..,
has no file type (x), names one of the row's inputs, or has the form of interp's hidden temps
(.x.tmp-<16 hex digits>.gif, which a later run would sweep away) fails that row.
Two rows naming the same output, an output that is another row's input, or one inside another
row's output refuse the whole manifest before any work (exit 2), as does a quote left open.
--save-aligned DIR keeps one crop per photo across the manifest: photos in different folders
that share a NAME are numbered NAME_aligned_1.png, _2 ... in the order the manifest names them.

\b
Shards: data row i (1, 2, ... in manifest order, over the whole manifest) goes to shard
((i-1) mod N)+1, so N shards split any manifest evenly and together make every row once.
--shard auto reads a Slurm array task ($SLURM_ARRAY_TASK_ID, _MIN, _COUNT, _STEP);
--shard auto/N reads a Kubernetes indexed Job's $JOB_COMPLETION_INDEX (0-based), or
takes Slurm task IDs 1-N as the shard numbers (to redo a few: --array=2,5).
Rows are dealt by position: a manifest edited while an array's tasks start moves rows
between shards, and some may be made by none; rerun the array once it has ended, with
--skip-existing, and those are made.

\b
Exit codes: 0 every row of the shard made or skipped, 1 some row failed, 2 usage error
(bad option, manifest or duplicate names), 130 interrupted, 143 terminated, 129 hung up
(its session closed, without nohup) (rerun with --skip-existing to finish: finished
outputs are complete, unfinished ones absent). A full --outdir stops the batch at the
first row that finds it so (exit 1; a read-only one, 2, before torch loads); a full or
read-only folder mounted below it, or one over its own project quota, fails only the
rows written there, each after the first at once. With --json the last line is the
summary even then: "stopped": true, or the "error" (and "exit_code") that stopped the
whole batch, e.g. unusable weights.

\b
--json lines: one per row, in the shard's order: "row" (data row number), "line" (in
the CSV), "manifest" (PAIRS.csv as given), "inputs", "output", "ok", "skipped", "timings",
"warnings", then the morph's --json keys, or "error" and "exit_code" (what `interp morph`
on that row exits with); a failed row's stderr line says where: PAIRS.csv:LINE: error.
A row that another live worker is making (the same shard run twice) is skipped, with
"claimed_elsewhere": true; that worker makes it, and a rerun makes it if that one died.
Last, one with "summary": true, "shard", "manifest", "rows" (the shard's), "manifest_rows",
"made", "skipped", "failed", "seconds", "warnings". A manifest or option refused at
the start prints, as its last line too, {"summary": true, "error", "exit_code": 2, ...}.
"""


@cli.command(epilog=BATCH_EPILOG)
@click.argument("manifest", metavar="PAIRS.csv")
@click.option("--outdir", required=True, type=PathName(file_okay=False), metavar="DIR",
              help="Directory the output names are relative to (created if missing).")
@click.option("--shard", type=ShardType(), default="1/1", show_default=True,
              help="Make only this worker's rows: K/N is the K-th of N disjoint slices (see below), auto "
                   "takes K and N from a Slurm array, auto/N takes K from a Kubernetes indexed Job.  "
                   "e.g. --shard 2/3")
@click.option("--skip-existing", is_flag=True,
              help="Skip rows whose output (and --sheets sheet) exists, without reading their inputs: rerun "
                   "a stopped job with it to finish only what is missing.")
@click.option("--sheets", is_flag=True,
              help="Also write each row's contact sheet beside its output: NAME.sheet.png.")
@morph_options
@output_flags(json_help="Print a JSON line per row on stdout, then a summary line.")
def batch(manifest, outdir, shard, skip_existing, sheets, quiet, as_json, **params):
    """Morph every row of a CSV (input1,input2[,...],output_name) with one loaded model.

    Every morph option applies to every row. A failed row is reported and the others go on;
    each row prints a line (a JSON line with --json), then a summary of the run.
    e.g. interp batch pairs.csv --outdir out/ --shard 1/4 --skip-existing --json
    """
    from interp_cli.batch import batch as run_batch  # not the pipeline: imported only if a row is to be made
    from interp_cli.batch_plan import PLANNED_CHOICES, make_outdir, plan_batch

    log = CommandLog(quiet, as_json)

    def on_row(result: dict) -> None:
        if as_json:  # the warnings said while this row was made (a cache's is said once, in the first row it hits)
            out(json_line(with_warnings(result, log)))

    started, checked = time.perf_counter(), None
    try:
        settings = morph_settings(params)
        checked = plan_batch(manifest, outdir, shard=shard, sheets=sheets,  # a bad manifest: refused before torch loads
                             **{key: settings[key] for key in PLANNED_CHOICES if key in settings})
        make_outdir(outdir, keep=False)  # likewise an --outdir under a file or in a read-only place
        summary = run_batch(manifest, outdir, shard=shard, skip_existing=skip_existing, sheets=sheets,
                           **settings, on_row=on_row, log=log, keep_results=False,  # only the failed rows' numbers
                           failures=CommandLog(False), progress=_progress(quiet, as_json), checked=checked)
    except (*stops.STOPS, Exception) as cut:
        # Stopped (Ctrl-C, a scheduler's SIGTERM, a Python caller's own SIGTERM handler's exception) from the
        # moment the arguments were parsed, or an error that stops the whole batch once its manifest was accepted:
        # a script reading the JSON log's last line still finds the summary, saying which. A refused manifest
        # gets main's failure object instead (exit 2: "error", "exit_code", "summary": true, no row counts).
        summary_owed = checked is not None or isinstance(cut, stops.STOPS)
        if as_json and summary_owed and not isinstance(cut, StdoutClosed):
            closing_json(with_warnings(_cut_short(cut, manifest, shard, checked, started), log))
        raise
    results = summary.pop("results")
    failed = ", ".join(str(r["row"]) for r in results if not r["ok"])
    # --quiet silences progress, not errors: a failed row's line (above) and the count of them stay on stderr.
    emit({"summary": True, **summary}, log, quiet and not summary["failed"],
         f"shard {summary['shard']}: {summary['made']} made, {summary['skipped']} skipped, {summary['failed']} failed"
         f"{f' (rows {failed})' if failed else ''} of {summary['rows']} rows in {summary['seconds']:.1f}s")
    if summary["failed"]:
        sys.exit(1)


def _cut_short(cut: BaseException, manifest: str, shard, checked, started: float) -> dict:
    """The closing summary of a batch that `cut` ended early: the rows so far (none, if it came before the
    first row: `rows` is null if even the manifest was not read yet), and "stopped": true or the error."""
    tally = getattr(cut, "batch_summary", None)
    if tally is None:
        tally = {"shard": str(checked.shard if checked else shard), "manifest": manifest,
                 "rows": len(checked.mine) if checked else None,
                 "manifest_rows": len(checked.rows) if checked else None, "made": 0, "skipped": 0, "failed": 0,
                 "seconds": round(time.perf_counter() - started, 3)}
    tally = {key: value for key, value in tally.items() if key != "results"}
    if isinstance(cut, stops.STOPS):
        return {"summary": True, **tally, "stopped": True}
    from interp_cli.errors import InterpError

    message, code, _ = failure_report(cut, "batch")
    # "path" as every failure object has it: the file at fault (--outdir, the weights), else null
    return {"summary": True, **tally, "error": message, "exit_code": code,
            "path": cut.path if isinstance(cut, InterpError) else None}


@cli.group(cls=WeightsGroup, invoke_without_command=True)
@click.pass_context
def weights(ctx):
    """List, download, verify, locate and remove model weights."""
    if ctx.invoked_subcommand is None:  # bare `interp weights`: its help, as bare `interp` shows its own
        click.echo(ctx.get_help())


@weights.command("list")
@output_flags(json_help="Print JSON.")
def weights_list(quiet, as_json):  # --quiet: as for `interp cache`
    """Show the presets, their size, license and whether they are on this machine."""
    from interp_cli import weights as w
    from interp_cli.progress import human_size

    rows = w.list_presets()
    if as_json:
        out(json_line(rows))
        return
    # The default is what a morph without --weights uses now: $INTERP_WEIGHTS may name a preset or a file.
    from_env = f" (default, from ${w.WEIGHTS_ENV})" if os.environ.get(w.WEIGHTS_ENV, "").strip() else " (default)"
    for row in rows:
        size = human_size(row["size"]) if row.get("size") else "?"
        where = row["path"] if row["present"] else (
            "missing (it ships with interp: `interp weights verify " + row["name"] + "` says how to restore it)"
            if row["source"] == "package" else "not downloaded")
        mark = from_env if row.get("default") else ""
        out(f"{row['name']}{mark}: {row['description']}\n    {size}, license: {row['license']}\n    {where}")
    if not any(row.get("default") for row in rows):
        out(f"default: {w.default_weights_spec()} (from ${w.WEIGHTS_ENV}, not a preset)")


_WEIGHTS_JSON = "Print one JSON object on stdout: \"id\", \"path\", \"sha256\"{more}; on a failure, the object every " \
                "command prints (\"error\", \"exit_code\", \"path\": the file at fault, or null)."
_VERIFY_JSON = _WEIGHTS_JSON.format(more=", \"preset\" (the preset it is, or null), \"contents\" (what a file "
                                         "that is no preset loads as, or null)")


@weights.command("download")
@click.argument("name", required=False)
@output_flags(json_help=_WEIGHTS_JSON.format(more="") + " A file with nothing to fetch prints verify's object.")
def weights_download(name, quiet, as_json):
    """Fetch weights into the Hugging Face cache and verify their sha256.

    NAME is a preset or a hub file owner/repo/file.pt[@rev]; without it, what a morph without --weights
    would use: $INTERP_WEIGHTS, else ffhq. A file on this machine (a path, the shipped demo) has nothing
    to fetch: it is checked as `interp weights verify` checks it, with the same line and exit code.
    e.g. interp weights download ffhq --json
    """
    from interp_cli import weights as w

    if w.hub_file(name) is None:
        # Someone who runs `download` wants a file they can use; for a file already here, that question is verify's.
        checked = w.verify(name, progress=_progress(quiet, as_json))
        where = "ships with interp" if checked.id in w.PRESETS else "is a file on this machine"
        if not quiet:
            click.echo(f"interp: nothing to download: {line_text(checked.id)} {where}", err=True)
        _report_verification(checked, as_json)
        return
    resolved = w.download(name, progress=_progress(quiet, as_json))
    if as_json:
        closing_json(resolved.summary())
        return
    out(f"{resolved.id}: {resolved.path}" + (f" (sha256 {resolved.sha256})" if resolved.sha256 else ""))


@weights.command("verify")
@click.argument("spec", required=False)
@output_flags(json_help=_VERIFY_JSON)
def weights_verify(spec, quiet, as_json):
    """Check that a weights file is what it should be; never downloads.

    SPEC is a preset name, a checkpoint path or a hub file (default: $INTERP_WEIGHTS, else ffhq).
    The file is hashed afresh.

    \b
    - A preset, or any file whose sha256 is a preset's: OK when the sha256 is the published one
      (for the shipped demo model, the one recorded in interp_cli/data/demo.json).
    - A file named like a preset's file (e4e_ffhq_encode.pt, demo.pt) or of a preset's exact size
      (1,201,649,680 bytes for ffhq) but with another sha256: a damaged or incomplete copy, exit 1.
    - Any other file: loaded as a morph loads it (tensors only, every layout check) and described
      (resolution, code shape); there is no published sha256 to compare it with. A file that does
      not load fails with the reason, exit 1.

    e.g. interp weights verify ~/models/e4e_ffhq_encode.pt
    """
    from interp_cli import weights as w

    _report_verification(w.verify(spec, progress=_progress(quiet, as_json)), as_json)


def _report_verification(checked, as_json: bool) -> None:
    """What `interp weights verify` (or `download`, for a file here) prints for a file it found good."""
    if as_json:
        closing_json(checked.summary())
    elif checked.preset is None:
        out(f"{checked.id}: loads as {checked.contents}; not a preset, so there is no published sha256 to compare "
             f"it with (sha256 {checked.sha256})")
    else:
        source = "as recorded for the model shipped with interp" if checked.preset.local_path else "as published"
        out(f"{checked.id}: OK: the {checked.preset.name} checkpoint (sha256 {checked.sha256}, {source})")


@weights.command("path")
@click.argument("spec", required=False)
@output_flags(json_help=_WEIGHTS_JSON.format(more=" (known if a run here hashed this file, else null: `interp weights "
                                                  "verify --json` hashes it)"))
def weights_path(spec, quiet, as_json):  # --quiet: as for `interp cache`
    """Print where the weights are on disk (never downloads)."""
    from interp_cli import weights as w

    if as_json:
        closing_json(w.located(spec).summary())
        return
    out(str(w.weights_path(spec)))


@weights.command("remove")
@click.argument("name")
@output_flags(json_help='Print one JSON object on stdout: "id", "removed" (the paths removed from the Hugging Face '
                        'cache), "bytes" (what they held); on a failure, the object every command prints.')
def weights_remove(name, quiet, as_json):  # --quiet: as for `interp cache`
    """Remove downloaded weights from the Hugging Face cache, freeing their disk space.

    NAME is a hub preset (ffhq) or a hub file owner/repo/file.pt[@rev]. Only that file goes: the repo's other
    files in the cache, and files of your own (--weights PATH), are never removed; the shipped demo model cannot
    be. A morph using the file now goes on with it; the disk space comes back when that morph ends. The next
    morph with these weights downloads them again.
    e.g. interp weights remove ffhq
    """
    from interp_cli import weights as w
    from interp_cli.progress import human_size

    removed = w.remove_weights(name)
    if as_json:
        closing_json(removed)
        return
    out(f"{removed['id']}: removed from the Hugging Face cache, {human_size(removed['bytes'])} freed")


@cli.command("cache")
@output_flags(json_help='Print JSON: {"path", "bytes", "files", "parts": [{"name", "path", "what", "bytes", "files", '
                        '"bound_bytes", "bound_env", "link"}], "clear": [the paths that clearing it removes], '
                        '"unlock": [folders of yours to make readable and writable first: chmod -R u+rwx], '
                        '"unreadable": [{"path", "error"}: not counted], "warnings": [a bound setting not taken]}.')
def cache_command(quiet, as_json):  # --quiet: its report is on stdout, nothing on stderr; taken as every verb takes it
    """Show where interp's cache is, what it holds and how to clear it.

    The cache dir is $INTERP_CACHE_DIR, else $XDG_CACHE_HOME/interp, else ~/.cache/interp. Deleting any of it is
    safe at any time, while interp runs too: a run makes again what it finds gone, and its output is the same; a
    run writing an entry just then warns that the entry was not cached, and goes on (rm may then find a folder not
    empty: run it again).
    """
    import shlex

    from interp_cli.cache import bound_warnings, off_setting, usage
    from interp_cli.progress import human_size

    report = usage()
    log = CommandLog(quiet, as_json)
    for warning in bound_warnings():  # as a morph says them: the bound shown is the default, not the value set
        log(warning)
    if as_json:
        out(json_line(with_warnings(report, log)))
        return
    out(f"{report['path']}: {human_size(report['bytes'])} in {report['files']} files")
    for part in report["parts"]:
        if part["bound_bytes"] is None:
            bound = ""
        elif part["bound_bytes"] == 0:  # "10.6 MB, at most 0 bytes" read as a bound broken; 0 turns the part off
            bound = f", off ({off_setting(part['bound_env'])}: neither read nor written)"
        else:
            bound = f", at most {human_size(part['bound_bytes'])} (${part['bound_env']})"
        if part["link"] is not None:  # its entries are wherever it points: never counted or cleared there
            out(f"  {part['name'] + '/':9} a link to {part['link']}, not followed: what it holds is not counted, and "
                "clearing removes the link only")
            continue
        out(f"  {part['name'] + '/':9} {human_size(part['bytes']):>10}{bound}: {part['what']}")
    for problem in report["unreadable"]:  # its bytes are not in the sizes above, nor is it known to be empty
        # rm cannot empty it: made readable first where it is this user's, else its part is not cleared (cache.usage)
        left = problem["path"] != report["path"] and not any(
            Path(problem["path"]).is_relative_to(cleared) for cleared in report["clear"])
        out(f"cannot be read, not counted: {problem['path']} ({problem['error']})"
            + ("; you cannot clear it, so the line below leaves its part alone" if left else ""))
    if report["clear"]:  # interp's own entries: the dir only where it holds nothing else (cache.usage)
        command = f"rm -rf -- {' '.join(map(shlex.quote, report['clear']))}"
        if report["unlock"]:
            command = f"chmod -R u+rwx -- {' '.join(map(shlex.quote, report['unlock']))} && {command}"
        # Runs go on while it is cleared (a rm -rf looped through a --tune morph, benchmarks/README.md, 2026-12-07)
        out(f"to clear it (safe while interp runs too): {command}")
    elif not os.path.lexists(report["path"]):  # "nothing of interp's is in it", of a folder that is not there
        out("it does not exist yet: interp makes it when a run first caches something")
    elif not report["unreadable"]:
        out("nothing of interp's is in it")


def _check_image_headers(paths) -> None:
    """Refuse a photo whose header says it cannot be used (not an image, an undecodable HEIC, too many pixels)
    before torch's import, with the words the command would say after it; .npy codes are checked there."""
    from interp_cli.images import check_image_header
    from interp_cli.inputs import is_code

    for path in paths:
        if not is_code(path):
            check_image_header(path)


def _check_paths_exist(paths, outputs=()) -> None:
    """Answer the commonest mistakes (a mistyped name, a FIFO, an output that is an input) before importing torch."""
    from interp_cli.files import check_input_file, refuse_overwriting_inputs

    for path in paths:
        check_input_file(path, "an image")
    refuse_overwriting_inputs(paths, outputs)


def main(argv: list[str] | None = None) -> None:
    """Run the command line `argv` (default `sys.argv[1:]`); always ends in SystemExit with the exit code.

    In a Python caller's process it behaves as the command, exit codes included (Ctrl-C is SystemExit(130),
    a SIGTERM meanwhile SystemExit(143), unless the caller handles SIGTERM itself: its handler then gets it, and an
    exception the handler raises leaves main as raised, interp's outputs cleaned as for any stop), and
    leaves the process as the library does: the stop signals' handlers are as they were when it returns, and the
    process-wide tuning of `run` (the command's own process) is not done."""
    cli.main(args=argv, prog_name="interp")


def _tune_own_process() -> None:
    """Settings for the whole process, made by the command for itself (`run`) and never by `main` in a Python
    caller's process: neither can be taken back there. OpenMP reads its variable once, when torch loads, and
    glibc has no way to read the malloc settings a process had (benchmarks/README.md, "A Python caller after
    cli.main"). The caller may make both itself (README, "From Python")."""
    # libgomp reads both as torch loads, refuses a value it cannot take with a blank line and its own words
    # ("libgomp: Invalid value for environment variable ..."), then uses its default (for the wait policy: threads
    # that spin): dropped here and said once in interp's words, so that the default (interp's PASSIVE below)
    # applies without that line.
    _drop_refused_openmp("OMP_WAIT_POLICY", openmp_wait_policy_takes,
                         lambda policy: "is not ACTIVE or PASSIVE; ignored, as OpenMP would ignore it: interp's "
                                        "default, PASSIVE, applies")
    # Spinning OpenMP threads made the encoder 3.5x slower on a busy machine; set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _drop_refused_openmp("OMP_NUM_THREADS", openmp_takes,
                         lambda threads: f"is not a number of threads (a whole number above 0{digits_only(threads)}, "
                                         f"e.g. 4); ignored, as OpenMP would ignore it: torch picks its own number")
    keep_freed_memory()  # 1024 frames reuse their buffers instead of page-faulting fresh ones
    freeze_imports_here()  # no collection walks torch's long-lived objects again (malloc.frozen_imports)


def _drop_refused_openmp(name: str, takes: Callable[[str], bool], why: Callable[[str], str]) -> None:
    """Drop the OpenMP variable `name` from the environment where libgomp would refuse its value (`takes`), with one
    warning for the command's log: `NAME='value' ` + `why(value)`. A blank value is taken as unset (as
    $INTERP_WEIGHTS's), silently."""
    value = os.environ.get(name)
    if value is None or takes(value):
        return
    del os.environ[name]
    if value.strip():
        PROCESS_WARNINGS.append(f"warning: {name}={value!r} {why(value)}")


def run() -> None:
    """Console entry point (`interp`, `python -m interp_cli`): `main`, then a direct process exit.

    Once torch is loaded, the interpreter's normal shutdown spends ~0.5 s tearing it down
    (measured on the 2-core development VM: `import torch` then exit takes 1.8 s, 1.2 s with a direct
    exit), a fifth of a `make demo` morph. By then every output is complete and renamed into
    place and ffmpeg has exited, so after the atexit handlers and a flush of stdout/stderr the
    process ends at once. `main` itself raises SystemExit as usual, for callers in Python.

    The direct exit is taken without torch too, so the exit code is always main's: under `python -m`,
    a KeyboardInterrupt that once left an `exec` of a string (dataclasses builds methods so, and
    torch's import makes many) sets CPython's "unhandled Ctrl-C" flag even though main caught it,
    and the interpreter's own exit then kills the process with SIGINT instead of exiting 130.
    """
    settle_std_streams()
    _tune_own_process()
    try:
        main()
    except SystemExit as done:
        # Finished (or stopped, the message printed): a stop signal from here on has nothing left to stop, and
        # would only cut the exit short (an atexit callback, or a kill by the signal, not our exit code).
        ignore_stops()
        code = done.code
    except KeyboardInterrupt as stop:  # a second Ctrl-C that landed in main's own handler
        code = stop_exit_code(stop)
    else:  # pragma: no cover - click always ends main() with SystemExit
        code = 0
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe (`interp ... --json | head -c 1`): nothing to keep
            pass
    os._exit(code or 0)



