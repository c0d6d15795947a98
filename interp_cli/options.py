"""The command line's options, each defined once and shared by the commands that take it.

    @options.morph_options        # every option that shapes a morph: `interp morph` and `interp batch`
    def batch(manifest, ..., **params):
        pipeline.batch(manifest, ..., **options.morph_settings(params))

Each option's parameter name is the keyword of `interp_cli.pipeline.morph` it feeds (`--interp`
-> interp, `--no-cache` -> cache=False), so a new morph option added here reaches `interp morph`
and `interp batch` alike with no second list. Only click is imported: `interp --help` stays instant.
"""

from __future__ import annotations

import re

import click

from interp_cli.limits import (EASINGS, FPS, GIF_MAX_FPS, INTERPS, MAX_FRAMES, NOISE_MODES, PRECISIONS, QUALITY,
                               REFINE_LOSSES, REFINE_MAX_STEPS, SIZE, STEPS_WHY, TRUNCATION,
                               TUNE_DEFAULT_STEPS, TUNE_MAX_STEPS)


def weights_option(f):
    return click.option("--weights", "-w", metavar="NAME|PATH|HUB_ID", default=None,
                        help="Preset (ffhq, demo), a local .pt checkpoint, or owner/repo/file.pt[@rev] on the "
                             "Hugging Face hub. Default: $INTERP_WEIGHTS, else ffhq.  e.g. --weights demo")(f)


def device_option(f):
    return click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda|mps",
                        help="Where to run the networks (auto: cuda, then mps, then cpu).")(f)


def precision_option(f=None, *, encodes: bool = True):
    """--precision; `@precision_option(encodes=False)` for a command that only renders (`interp render`)."""
    if f is None:
        return lambda g: precision_option(g, encodes=encodes)
    encoding = "; encoding is always fp32" if encodes else ""
    return click.option("--precision", type=click.Choice(PRECISIONS), default="auto",
                        show_default=True,
                        help=f"Rendering precision (auto: bf16 on CUDA GPUs with native bf16, Ampere or newer, else "
                             f"fp32; fp32 is strict, no TF32{encoding}). "
                             "bf16 is ~2x faster on CPUs with AVX-512 BF16 or AMX; fp16 is for GPUs "
                             "(slower than fp32 on a CPU).  e.g. --precision bf16")(f)


class FaceType(click.ParamType):
    """`--face N` (every input) or `--face N,M,...` (one per input; an empty place: the largest face)."""

    name = "N|N,N,..."

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, (int, tuple)):
            return value
        text = str(value).strip()
        places = [place.strip() for place in text.split(",")]
        # isascii: "²".isdigit() is true, and int("²") an internal error
        if not all(place == "" or place.isascii() and place.isdigit() for place in places) or not any(places):
            self.fail(f"{value!r}: give a face number (0 = leftmost), or one per input such as 0,1 or ,1",
                      param, ctx)
        faces = tuple(int(place) if place else None for place in places)
        return faces[0] if len(faces) == 1 else faces


def _checked(check, ctx):
    """`check()`, one of interp_cli.checks' (its result returned), its UsageError raised as Click's with its own
    words: every number the command line takes is refused as the same keyword from a Python caller is, naming the
    option as typed (`--size must be between 8 and 4096 (got 7)`), where Click said "Invalid value for '--size':
    7 is not in the range 8<=x<=4096" beside --steps' "--steps must be at least 2 (got 0)"."""
    from interp_cli.errors import UsageError

    try:
        return check()
    except UsageError as err:
        raise click.UsageError(str(err), ctx) from None


def _typed_number(keyword: str, value, integer: bool):
    """A command-line word as the number it spells in ASCII digits (`checks.number_word`; an int where it is one:
    `--fps 1000` is refused as "got 1000"), for the checks; a value Click already holds (a default) as it is. A
    word that is no number is refused as the check would refuse it: "--size must be a whole number (got 1.5)",
    "--fps must be a number (got abc)", "--steps must be a whole number, in the digits 0-9 (got 1_0)"."""
    from interp_cli.checks import digits_only, not_a_count, number_word
    from interp_cli.errors import UsageError, option

    if not isinstance(value, str):
        return value
    number = number_word(value, integer)
    if number is not None:
        return number
    text = value.strip()
    shown = text if text else repr(value)  # `--steps ""`: (got '')
    if integer:
        raise UsageError(not_a_count(keyword, shown).replace(" (got", f"{digits_only(text)} (got", 1))
    raise UsageError(f"{option(keyword)} must be a number{digits_only(text)} (got {shown})")


class _Bounded:
    """An IntRange or FloatRange (its bounds shown by --help as Click shows them, `[8<=x<=4096]`) whose refusals
    are `checks.check_number`'s: one wording for every bounded option, nan and inf refused too (every comparison
    with nan is false: a bare FloatRange let `--truncation nan` through, black frames and `"fps": NaN`)."""

    integer = True

    def convert(self, value, param, ctx):
        from interp_cli.checks import check_number

        keyword = param.name if param is not None else "value"
        number = _checked(lambda: check_number(keyword, _typed_number(keyword, value, self.integer), self.min,
                                               self.max, integer=self.integer), ctx)
        return number if self.integer else float(number)


class IntRange(_Bounded, click.IntRange):
    """A whole number within bounds (`IntRange(8, 4096)`, `IntRange(min=1)`), refused in interp's words."""


class FloatRange(_Bounded, click.FloatRange):
    """A finite number within bounds, refused in interp's words."""

    integer = False


class _Seed(click.ParamType):
    """--seed: any integer torch's generators take, refused as `checks.check_seed` refuses seed=. Not an IntRange,
    whose bounds --help shows: "-9223372036854775808<=x<=18446744073709551615" beside every verb's --seed
    (wrapped mid-number in `interp encode --help`) told a newcomer only that it was a machine's limit."""

    name = "integer"

    def convert(self, value, param, ctx):
        from interp_cli.checks import check_seed

        return _checked(lambda: check_seed(_typed_number("seed", value, True)), ctx)


SEED = _Seed()


def output_flags(f=None, *, json_help: str = "Print one JSON summary on stdout; on a failure, one object with "
                                             "\"error\", \"exit_code\" and \"path\" (the file at fault: an "
                                             "input, the weights, or an output that cannot be written; else null)."):
    """--quiet and --json; `@output_flags(json_help=...)` for a command whose JSON differs."""
    if f is None:
        return lambda g: output_flags(g, json_help=json_help)
    f = click.option("--json", "as_json", is_flag=True, help=json_help)(f)
    f = click.option("--quiet", "-q", is_flag=True, help="No progress or messages on stderr (errors still).")(f)
    return f


def align_options(f):
    f = click.option("--face", type=FaceType(), default=None, metavar="N|N,N,...",
                     help="Which face when a photo has several (0 = leftmost; default: the largest): one number "
                          "for every input, or one per input, an empty place meaning the largest.  "
                          "e.g. --face ,1 (the second input's face 1)")(f)
    f = click.option("--align/--no-align", default=None,
                     help="FFHQ-align faces before encoding (default: on, except for models trained on "
                          "unaligned images such as the demo preset). Use --no-align for aligned crops.")(f)
    return f


def paste_options(f):
    f = click.option("--match-colour/--no-match-colour", default=True, show_default=True,
                     help="With --paste, shift each pasted face's colour by its mean difference from the photo "
                          "along the seam, so skin tones meet without a visible edge; in a black-and-white "
                          "photo the face is made grey.")(f)
    f = click.option("--backdrop", default=None, metavar="INPUT",
                     help="With --paste, the input whose photo the morph is pasted into, by letter (a, b, c ...) "
                          "or number from 1 (default: a, the first). Implies --paste.  e.g. --backdrop b")(f)
    f = click.option("--paste", is_flag=True,
                     help="Composite every frame into the first input's photo, at its own size: the face is "
                          "warped back onto the face that was encoded and feathered in; the rest of the photo "
                          "is untouched; --face N picks the face in that photo. Needs alignment.  "
                          "e.g. interp a.jpg b.jpg --paste -o a_to_b.mp4")(f)
    return f


def noise_options(f=None, *, seeds: str = "--noise random, --refine and --tune"):
    """--noise, --seed and --truncation; `@noise_options(seeds="--noise random")` for a command whose seed
    feeds only the noise (`interp render` has no --refine or --tune): --seed's help names what it seeds."""
    if f is None:
        return lambda g: noise_options(g, seeds=seeds)
    # Click lists options in decorator order, top down: apply bottom-up.
    f = click.option("--truncation", type=FloatRange(*TRUNCATION), default=1.0, show_default=True,
                     help="Pull codes toward the average face (1 = off, 0.7 = typical).")(f)
    f = click.option("--seed", type=SEED, default=0, show_default=True, metavar="INTEGER",
                     help=f"Seed for {seeds}.")(f)
    f = click.option("--noise", type=click.Choice(NOISE_MODES), default="const", show_default=True,
                     help="Per-layer noise, held constant over all frames: the checkpoint's fixed maps, "
                          "seeded random maps, or none.")(f)
    return f


def cache_option(f, *, tunes: bool = False):
    """--no-cache; `tunes=True` for a command that also has --tune, whose cache it names."""
    tuned = " and, with --tune, the tuned-weights cache (so it tunes again)" if tunes else ""
    return click.option("--no-cache", "cache", is_flag=True, flag_value=False, default=True,
                        help=f"Do not read or write interp's caches: the latent cache (encoded codes keyed by image + "
                             f"weights){tuned}.")(f)


def refine_options(f=None, *, tunes: bool = False):
    """--refine, --refine-loss and --no-cache (`tunes`: as for `cache_option`)."""
    if f is None:
        return lambda g: refine_options(g, tunes=tunes)
    f = cache_option(f, tunes=tunes)
    f = click.option("--refine-loss", type=click.Choice(REFINE_LOSSES), default="l2+lap",
                     show_default=True, help="Reconstruction loss for --refine (lap = Laplacian pyramid).")(f)
    f = click.option("--refine", type=IntRange(0, REFINE_MAX_STEPS), default=0, show_default=True, metavar="N",
                     help=f"Optimise each code for N steps after encoding for a closer likeness (slower; at most "
                          f"{REFINE_MAX_STEPS:,}).")(f)
    return f


class FrameCount(click.ParamType):
    """--steps and --hold: checked by `checks.check_count`, the check the same keywords get from a Python caller, so
    `--steps 1` and steps=1 (or `--hold 1.5` and hold=1.5) are refused in the same words, where click said "1 is not in
    the range 2<=x<=1000000" and "'1.5' is not a valid integer range". Too many frames in all is the morph's own
    check (blend), which knows the inputs and --hold: `--steps` alone had a bound of its own, worded apart."""

    name = "integer"

    def __init__(self, keyword: str, low: int, why: str = ""):
        self.keyword, self.low, self.why = keyword, low, why

    def convert(self, value, param, ctx):
        from interp_cli.checks import check_count

        return _checked(lambda: check_count(self.keyword, _typed_number(self.keyword, value, True), self.low,
                                            self.why), ctx)


class TuneSteps(IntRange):
    """--tune's optional step count. Click gives an optional value the next word unless it starts with
    `-`, so a bare --tune before the inputs (`interp --tune a.png b.png`) takes `a.png` as its count:
    say that, instead of Click's "'a.png' is not a valid integer range"."""

    def convert(self, value, param, ctx):
        from interp_cli.checks import number_word

        # a word with digits in it (`1_0`, `١٠`) was meant as a count: refused as one, in the digits' words; so is a
        # decimal (`--tune 1.5`: "must be a whole number", as --refine 1.5 is, not "put a bare --tune after ...")
        if isinstance(value, str) and not re.fullmatch(r"\s*[+-]?[\d_]*\d[\d_]*\s*", value) and \
                number_word(value, integer=False) is None:
            # batch's word after --tune is its manifest: "after the inputs (interp A B --tune)" was a morph's advice
            where = "the manifest (interp batch pairs.csv --outdir out/ --tune)" if ctx is not None and \
                ctx.command.name == "batch" else "the inputs (interp A B --tune)"
            self.fail(f"got '{value}': --tune takes an optional step count; put a bare --tune after {where}, or "
                      f"write the count (--tune {TUNE_DEFAULT_STEPS})", param, ctx)
        return super().convert(value, param, ctx)


_TUNE_STEPS = TuneSteps(0, TUNE_MAX_STEPS)


def tune_steps(word: str) -> int:
    """--tune's count from its word, refused as the option refuses it (a click.UsageError)."""
    return _TUNE_STEPS.convert(word, click.Option(["--tune"]), None)


def tune_option(f):
    return click.option(
        "--tune", type=_TUNE_STEPS, is_flag=False, flag_value=TUNE_DEFAULT_STEPS, default=0,
        metavar="[N]",
        help=f"Pivotal tuning: fit a copy of the generator to the input photos for N steps (bare --tune: "
             f"{TUNE_DEFAULT_STEPS}) so the ends look like the people; every frame is drawn with it, the weights "
             f"file is untouched, and tuned weights are cached. Costs about 5 s on the demo model; at 1024 px on "
             f"a CPU a step costs about 7 frames' render (6 s on 2 idle cores), so a bare --tune adds about 5 "
             f"minutes, more on a busy machine. At most {TUNE_MAX_STEPS:,} steps.  e.g. interp a.jpg b.jpg --tune")(f)


class PathName(click.Path):
    """A path option's value as typed: what it names is checked by interp (`--outdir pairs.csv: exists and is
    not a directory`), as for a Python caller, not by click, whose refusals read unlike any other ("Directory
    'pairs.csv' is a file."). A click.Path still, for the shell to complete a folder's (file_okay=False) or
    a file's name."""

    def convert(self, value, param, ctx):
        return value


def save_aligned_option(f, help="Also save the crops the encoder saw in DIR (made if missing), as NAME_aligned.png; "
                                "inputs that share a NAME get their place among the inputs: NAME_aligned_1.png, "
                                "NAME_aligned_2.png. Saved at the end with the output; a crop that would replace "
                                "an input or another output, or land in a frames folder, is refused at once."):
    return click.option("--save-aligned", type=PathName(file_okay=False), default=None, metavar="DIR",
                        help=help)(f)


class LayersType(click.ParamType):
    """`--layers SPEC`, its syntax checked at parse time: `foo` or `3-1` is a usage error (exit 2) before
    any model loads, and before a batch fails each of its rows alike. Whether the rows exist is the
    model's to say (`blend.parse_layers`)."""

    name = "SPEC"

    def convert(self, value, param, ctx):
        from interp_cli.layers import check_layers
        from interp_cli.errors import UsageError

        try:
            check_layers(value)
        except UsageError as err:  # click's line names the option; the reason names the part at fault
            reason = str(err).removeprefix(f"--layers {value}: ")
            self.fail(reason if f"'{value}'" in reason else f"{value}: {reason}", param, ctx)
        return value


def _morph_option_list():
    """The options of one morph, in the order `--help` shows them (applied bottom-up by Click)."""
    return [
        click.option("--steps", type=FrameCount("steps", 2, STEPS_WHY), default=60, show_default=True,
                     help=f"Frames per transition, both ends included: 2 or more (a morph has at most "
                          f"{MAX_FRAMES:,} frames in all, --hold included)."),
        click.option("--fps", type=FloatRange(*FPS), default=30, show_default=True,
                     help=f"Frames per second (a GIF plays at most {GIF_MAX_FPS:g}: its frames last whole "
                          f"hundredths of a second, and browsers slow ones under 20 ms down)."),
        click.option("--quality", type=IntRange(*QUALITY), default=8, show_default=True,
                     help="MP4 and HTML quality, 10 best (MP4: CRF = 34 - 2*quality; HTML: JPEG 50 + 5*quality)."),
        weights_option, device_option, precision_option,
        click.option("--batch-size", type=IntRange(min=1), default=4, show_default=True,
                     help="Frames rendered per forward pass."),
        noise_options, align_options, save_aligned_option,
        click.option("--loop", is_flag=True, help="Return to the first image, seamlessly (no repeated frame)."),
        click.option("--pingpong", is_flag=True, help="Play forward, then back."),
        click.option("--hold", type=FrameCount("hold", 0), default=0, show_default=True,
                     help="Extra frames held on each input."),
        click.option("--ease", type=click.Choice(EASINGS), default="linear",
                     show_default=True, help="Timing of each transition."),
        click.option("--interp", type=click.Choice(INTERPS), default="lerp",
                     show_default=True, help="Path between codes (spline: Catmull-Rom through all inputs)."),
        click.option("--layers", type=LayersType(), default="all", show_default=True, metavar="SPEC",
                     help="Which W+ rows move: coarse, middle, fine, all, or rows like 0-7 or 0-3,8-17; "
                          "the others stay at the first input."),
        refine_options(tunes=True), tune_option,
        click.option("--size", type=IntRange(*SIZE), default=None, metavar="PX",
                     help="Resize the written frames to PX x PX (default: the model's size); with --paste, the "
                          "width (the height keeps the photo's aspect ratio). Even for an .mp4.  e.g. --size 512"),
        paste_options,
    ]


def morph_options(f):
    """Decorate a command with every option of one morph."""
    for option in reversed(_morph_option_list()):
        f = option(f)
    return f


def _option_names() -> frozenset[str]:
    probe = morph_options(lambda: None)
    return frozenset(param.name for param in probe.__click_params__)


MORPH_OPTION_NAMES = _option_names()


def morph_settings(params: dict) -> dict:
    """The morph options among a command's parsed values, as keywords for `pipeline.morph`/`pipeline.batch`."""
    return {name: value for name, value in params.items() if name in MORPH_OPTION_NAMES}


class ShardType(click.ParamType):
    """`--shard K/N` or `auto[/N]`, checked at parse time (exit 2 with one line, before any import of torch)."""

    name = "K/N|auto"

    def convert(self, value, param, ctx):
        from interp_cli.errors import UsageError
        from interp_cli.shards import parse_shard

        try:  # a Shard already made (a caller's default) is checked there too
            return parse_shard(value)
        except UsageError as err:
            reason = str(err)
            # click names the option already: the value once ("auto/3 (Slurm task 5; ...): K must be ...")
            prefix = f"--shard {value}"
            self.fail(f"{value}{reason[len(prefix):] if reason.startswith(prefix) else ': ' + reason}", param, ctx)
