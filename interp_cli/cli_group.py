"""How interp reads its command line and says what went wrong: the group behind `interp` (`cli.cli`).

    DefaultMorphGroup         # `interp a.png b.png` is `interp morph a.png b.png`; a mistyped verb is named; every
                              # failure one line on stderr and an exit code (2 usage, 1 runtime, 129/130/143 stops)
    WeightsGroup              # `interp weights`: another tool's word for a verb (`rm`, `ls`) or a typo is answered
    _Command                  # every verb's: an option missing its value, or given an empty one, is refused
    failure_report(err, ...)  # a failure's line, exit code and whether it is a bug (`failures.reported`'s rule)

The verbs themselves, and the process's own set-up (`main`, `run`), are `interp_cli.cli`'s.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence

import click

from interp_cli import stops
from interp_cli.console import (StdoutClosed, debug_notes, failure_json, one_command, say_kept_warnings,
                                silence_stdout)
from interp_cli.errors import cli_words, one_line
from interp_cli.failures import reported
from interp_cli.names import line_text, typed_shown
from interp_cli.stops import HungUp, Terminated, raise_on_sigterm


class _Escaped(Exception):
    """Carries an EOFError past Click, which would otherwise report it as a Ctrl-C ("interrupted")."""


class _Stopped(Exception):
    """Carries a Ctrl-C or SIGTERM (its KeyboardInterrupt is the cause) past Click, which would print an
    empty line on stderr first: noise under --quiet and --json, and in every log."""



# Options people bring from other batch tools, and what does that here. Click's own guess by spelling
# offered `--ease` or `--refine` for `batch --resume`.
_FINISH_A_BATCH = "to finish a stopped batch, run it again as before with --skip-existing"
# --tune fits a copy of the generator to a morph's photos; click offered --noise or --quiet for it elsewhere.
_CLOSER_CODE = "--refine N fits the code itself to the photo (interp encode PHOTO --refine 100 -o CODE.npy)"
# A morph's -o carried over to a batch: click had no guess to offer for it.
_ROWS_OUTPUT = ("each row's output is named in the manifest's last column and written inside --outdir DIR "
                "(interp batch PAIRS.csv --outdir out/)")
_MEANT = {("batch", "--resume"): _FINISH_A_BATCH, ("batch", "--continue"): _FINISH_A_BATCH,
          ("batch", "-o"): _ROWS_OUTPUT, ("batch", "--output"): _ROWS_OUTPUT,
          ("encode", "--tune"): "tuning fits a copy of the generator, never the code, so encode would write the same "
                                f"code with it; {_CLOSER_CODE}",
          ("render", "--tune"): "render draws a code, which has no photo to tune a generator to; tuning is a "
                                "morph's (interp A.png B.png --tune -o out.mp4)",
          ("mix", "--tune"): "mix draws with the loaded generator (tuning is a morph's: interp A.png B.png --tune "
                             f"-o out.mp4); {_CLOSER_CODE}, and mix takes .npy codes"}


# Other tools' names for an option of interp's, for every command that has it: click's guesses by spelling were
# wrong (`--model`: '--help' or '--hold'; `--frames`: '--face', '--fps' or '--layers').
_NAMED_ELSEWHERE = {
    "--model": ("--weights", "the model is --weights NAME: ffhq (the default), demo, a checkpoint path or a hub "
                             "file owner/repo/file.pt"),
    "--frames": ("--steps", "the frame count is --steps N, the frames of each transition, both ends included"),
}
_NAMED_ELSEWHERE.update({"--checkpoint": _NAMED_ELSEWHERE["--model"], "--num-frames": _NAMED_ELSEWHERE["--frames"]})


def _option_meant(err: click.ClickException) -> str | None:
    """For an unknown option listed in `_MEANT` or `_NAMED_ELSEWHERE`, the line that says what to use instead."""
    if not isinstance(err, click.NoSuchOption) or err.ctx is None:
        return None
    meant = _MEANT.get((err.ctx.command.name, err.option_name))
    if meant is None and err.option_name in _NAMED_ELSEWHERE:
        ours, said = _NAMED_ELSEWHERE[err.option_name]
        meant = said if any(ours in param.opts for param in err.ctx.command.params) else None
    return f"no such option {err.option_name!r}: {meant}" if meant else None


def _click_message(err: click.ClickException, typed=()) -> str:
    """A usage error of Click's, said as interp says its own: a lower-case first word and no closing full stop
    (Click's "Invalid value for '--size': 7 is not in the range 8<=x<=4096." stood beside "--steps must be at
    least 2 (got 0)", and "No such option '--bogus'." beside "no such option '--resume': ..."), and an unknown
    option's guesses in one form, where Click's words change with its version ("No such option: -d")."""
    if (meant := _option_meant(err)) is not None:
        return meant
    if isinstance(err, click.NoSuchOption):
        # Closest first, as difflib ranks them (Click 8.1 and 8.2+ alike): sorted by name, `--step` was answered
        # "did you mean '--interp', '--paste' or '--steps'?", the one meant last.
        guesses = [repr(guess) for guess in err.possibilities or ()]
        if not guesses:
            return f"no such option {err.option_name!r}"
        *others, last = guesses
        return f"no such option {err.option_name!r}; did you mean {', '.join(others) + ' or ' if others else ''}{last}?"
    message = _error_line(err.format_message(), typed)
    if message[:1].isupper() and message[1:2].islower():  # a word, not a name in capitals ('IMAGE') or an option
        message = message[0].lower() + message[1:]
    return message[:-1] if message.endswith(".") and not message.endswith("..") else message


class _Command(click.Command):
    """Every verb's command: an option that takes a value, followed by another option, is said to be
    missing its value. Click hands such an option the next word whatever it is, so `interp a b --refine -o
    x.mp4` said "'-o' is not a valid integer range", and `--weights -o x.mp4` took "-o" as the weights and
    then advised the `-o x.mp4` already typed.

    An option given an empty word is refused too: `--outdir "$OUT"` with $OUT unset wrote a batch into the
    current folder, `--save-aligned ""` the crops, and `--weights ""`, `--device ""` and mix's `--middle ""`
    quietly meant their defaults (a 1.2 GB ffhq download for the weights), while `--coarse ""` was refused."""

    def parse_args(self, ctx, args):
        takes_value = _value_options(self)
        names = {name for param in self.get_params(ctx) if isinstance(param, click.Option)
                 for name in param.opts + param.secondary_opts}
        for word, after in zip(args, args[1:]):
            if word == "--":
                break
            if word in takes_value and (after in names or after.split("=", 1)[0] in names and after.startswith("--")):
                raise click.UsageError(f"Option '{word}' requires an argument: the word after it, {after}, is an "
                                       f"option.", ctx)
        rest = super().parse_args(ctx, args)
        _refuse_empty_values(self.get_params(ctx), ctx)
        return rest


def _refuse_empty_values(params, ctx) -> None:
    """An option typed with an empty value (`--weights ""`, `--outdir=`) is a usage error, whatever its type: no
    option of interp's means anything by an empty word, and an unset shell variable is the usual cause. So is an
    empty optional argument (`interp weights verify ""` checked the default weights); a required one is a file
    that is not there, and says so."""
    from click.core import ParameterSource

    for param in params:
        if (isinstance(param, click.Option) or not param.required) and ctx.params.get(param.name) == "" \
                and ctx.get_parameter_source(param.name) == ParameterSource.COMMANDLINE:
            name = max(param.opts, key=len) if isinstance(param, click.Option) else param.human_readable_name
            leave = "" if param.required else f", or leave {name} out"
            raise click.UsageError(f"{name} is empty (''): give it a value{leave}", ctx)


def _value_options(command) -> set[str]:
    """The names of `command`'s options that take the next word as their value (not flags, nor --tune's optional
    count, which click never gives a word starting with -)."""
    return {name for param in getattr(command, "params", ()) if isinstance(param, click.Option)
            and not (param.is_flag or param.count or getattr(param, "_flag_needs_value", False)) for name in param.opts}


def _options_end(args, command) -> int:
    """Where the options of the line end: at its first `--` that is no option's value. `--precision -- ... --json`
    gives --precision the word `--`, so the --json after it is an option still: its failure was said without the
    JSON object stdout promises."""
    takes_value = _value_options(command)
    return next((i for i, word in enumerate(args) if word == "--" and (i == 0 or args[i - 1] not in takes_value)),
                len(args))


class DefaultMorphGroup(click.Group):
    """A group whose unnamed first argument means the `morph` command: `interp a.png b.png` works.

    Its `main` is also the one place where every failure becomes one line on stderr and an exit
    code (2 usage, 1 runtime, 130 Ctrl-C); `--debug` anywhere shows the traceback instead.
    """

    command_class = _Command

    def main(self, args=None, prog_name=None, **extra):
        args = list(sys.argv[1:] if args is None else args)
        # Every message made meanwhile names options as flags (`--no-align`), not keywords; --debug's notes
        # go to stderr for this run only, and the stop signals get their handlers back (a Python caller may
        # run `main` and go on with the library, or with its own handling of SIGTERM).
        with cli_words(), debug_notes("--debug" in args), stops.handlers_given_back(), one_command():
            return self._main(args, prog_name, **extra)

    def _main(self, args, prog_name=None, **extra):
        debug = "--debug" in args
        args = [a for a in args if a != "--debug"]
        extra.pop("standalone_mode", None)
        command = args[0] if args and args[0] in self.commands else "morph"
        as_json = "--json" in args[:_options_end(args, self.commands.get(command))]

        def failed(error: str, exit_code: int, **more) -> None:
            """Under --json, the failure's JSON object on stdout too (`console.failure_json`); a batch's closes its
            JSON log as its summary does, so it says "summary": true."""
            if as_json:
                failure_json(error, exit_code, **more, **({"summary": True} if command == "batch" else {}))

        try:
            raise_on_sigterm()  # inside: a stop held since the entry point's first line is acted on here
            code = super().main(args=args, prog_name=prog_name or "interp", standalone_mode=False, **extra)
        except click.ClickException as err:  # usage errors: bad option values, missing arguments
            message = _click_message(err, args)
            if isinstance(err, click.NoSuchOption) and (word := _file_read_as_option(err.option_name, args)):
                message = line_text(f"{message}; '{word}' is a file: to name it, write ./{word}")
            click.echo(f"interp: error: {message}", err=True)
            failed(message, err.exit_code)
            sys.exit(err.exit_code)
        except StdoutClosed:
            silence_stdout()
            sys.exit(141)  # what a tool killed by SIGPIPE reports; the output file itself is complete
        except (KeyboardInterrupt, click.exceptions.Abort, _Stopped) as err:
            # Click re-raises a KeyboardInterrupt (Terminated included) as Abort: `from` the original since
            # click 8.1, only chained as __context__ in click 8.0. One that arrives while a command runs is
            # carried past Click as _Stopped.
            from interp_cli.progress import close_open, is_terminal

            close_open()
            if is_terminal(sys.stderr):  # off the line a terminal's ^C (or a progress bar) left the cursor on
                click.echo("", err=True)
            said, code = "interrupted", 130
            if any(isinstance(e, HungUp) for e in (err, err.__cause__, err.__context__)):
                said, code = "hung up", 129
            elif any(isinstance(e, Terminated) for e in (err, err.__cause__, err.__context__)):
                said, code = "terminated", 143
            click.echo(f"interp: {said}", err=True)
            failed(said, code, warnings=say_kept_warnings(say=False), stopped=True)
            sys.exit(code)
        except Exception as err:
            from interp_cli.errors import InterpError, UsageError

            if isinstance(err, _Escaped):
                err = err.__cause__
            if debug and not isinstance(err, UsageError):  # bad input stays one line, exit 2, even so
                import traceback

                traceback.print_exception(type(err), err, err.__traceback__)
            kept = say_kept_warnings()
            message, code, internal = failure_report(err, command, args)
            if internal:
                click.echo(f"interp: {message}{'' if debug else ' (rerun with --debug for a traceback)'}", err=True)
            else:
                click.echo(f"interp: error: {message}", err=True)
            failed(message, code, path=err.path if isinstance(err, InterpError) else None, warnings=kept)
            sys.exit(code)
        sys.exit(code if isinstance(code, int) else 0)

    def format_commands(self, ctx, formatter):
        """Each command's whole first sentence: Click's own summaries stop at 45 characters, mid-example."""
        rows = [(name, _summary(command)) for name, command in
                ((name, self.get_command(ctx, name)) for name in self.list_commands(ctx))
                if command is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            _check_working_folder()
            return super().invoke(ctx)
        except EOFError as err:  # not an interrupt: keep Click from turning it into Abort
            raise _Escaped() from err
        except KeyboardInterrupt as err:
            raise _Stopped() from err
        except BrokenPipeError:  # a command's --help into `head -c0`: Click would exit 1, we say 141 as for --json
            raise StdoutClosed() from None

    def make_context(self, info_name, args, parent=None, **extra):
        try:  # parsing runs `interp --help` and `--version`, which print on stdout
            return super().make_context(info_name, args, parent=parent, **extra)
        except BrokenPipeError:
            raise StdoutClosed() from None

    def parse_args(self, ctx, args):
        _refuse_negative_tune(args)
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            _refuse_mistyped_command(args[0], self.commands, args[1:])
            args = ["morph", *args]
        elif not args:
            args = ["--help"]
        return super().parse_args(ctx, args)


def _refuse_negative_tune(args) -> None:
    """`--tune -1`: the range error `--tune 20000` gets, instead of "No such option '-1'".

    --tune's count is optional, and click hands an optional value the next word only if it does not
    start with "-" (`--tune=-1` too: click puts the value back in front of the words), so `-1` was
    parsed as an option. A negative whole number right after --tune is never an option name here."""
    from interp_cli.checks import number_word
    from interp_cli.options import tune_steps

    for word, after in zip(args, [*args[1:], ""]):  # the last word too: `... --tune=-1`
        if word == "--":
            return
        # any digits (and `_`), as TuneSteps takes a count: `--tune -١` is refused in its digits' words, as
        # `--tune=-١` is, not as "No such option"; a decimal too (`--tune -0.5` was "No such option '-0'")
        negative = re.fullmatch(r"-[\d_]*\d[\d_]*", after) or after.startswith("-") and number_word(after, False)
        if word == "--tune" and negative or word.startswith("--tune=-"):
            tune_steps(after if word == "--tune" else word.split("=", 1)[1])


def _file_read_as_option(option: str, args) -> str:
    """The word "No such option '-d'." came from, where it is a file (`interp -dash.png b.png`), else "":
    click reads a word starting with "-" as options, and its message named none of the user's words."""
    for word in args:
        if word == "--":
            break
        if word.startswith(option) and os.path.lexists(word):
            return word
    return ""


# Other tools' words for the weights verbs (`pip uninstall`, `hf cache delete`, `docker pull`, `ls`), and typos of
# ours: click said only "no such command 'rm'".
_WEIGHTS_VERBS_ELSEWHERE = {"rm": "remove", "delete": "remove", "del": "remove", "uninstall": "remove",
                            "purge": "remove", "ls": "list", "get": "download", "fetch": "download", "pull": "download",
                            "install": "download", "check": "verify", "where": "path"}


class WeightsGroup(click.Group):
    """`interp weights`: its verbs listed as `interp --help` lists them, and another tool's word for one of
    them (`rm`, `ls`) or a typo answered with the line that runs."""

    format_commands = DefaultMorphGroup.format_commands  # whole first sentences, as in `interp --help`
    command_class = _Command

    def resolve_command(self, ctx, args):
        word = args[0] if args else ""
        if word and word not in self.commands and not word.startswith("-"):
            import difflib  # only for a word that is no verb: 1-1.6 ms of every `interp weights list` otherwise

            meant = _WEIGHTS_VERBS_ELSEWHERE.get(word.lower()) or next(
                iter(difflib.get_close_matches(word.lower(), list(self.commands), n=1, cutoff=0.6)), None)
            if meant is not None:  # the line runs as written: words the verb does not take are left out, and named
                raise click.UsageError(f"no such command '{word}'; did you mean "
                                       f"{meant_line(['weights', meant], self.commands[meant], args[1:])}?", ctx)
        return super().resolve_command(ctx, args)


def failure_report(err: Exception, command: str, typed=()) -> tuple[str, int, bool]:
    """How a failure is reported: its one line (after "interp: error: ", or "internal error: ..." for a
    bug), its exit code, and whether it is a bug.

    The rule is `failures.reported`, which a batch row's error follows too; the stderr line and a
    batch's closing JSON summary say the same.
    """
    told, internal = reported(err, command)
    return _error_line(str(told), typed), told.exit_code, internal


def _error_line(text: str, typed) -> str:
    """A failure's words as its one stderr line (and --json's "error"): the user's `typed` words that hold control
    characters shown as escapes where the text quotes them (before the line is made one: a line break in a name is
    no space), then any control character left (one derived from a name, e.g. its folder) escaped too."""
    return line_text(one_line(typed_shown(text, typed)))


def _words_taken(command: click.Command, words) -> tuple[list, list]:
    """Of the words typed after a subcommand named without its group (`interp download ffhq --steps 8`), those
    `command` parses, and the options it has not: the suggested line must run as written, and `interp weights
    download` has no --steps. An option's value stays (`--weights ffhq` is NAME ffhq); where what is left still
    does not parse (two names), the suggestion is the command's --help."""
    known = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    known.update(("--help", "-h"))
    taken, untaken, options = [], [], True
    for typed in words:
        options = options and typed != "--"
        if options and typed.startswith("-") and typed != "-" and typed.split("=", 1)[0] not in known:
            untaken.append(typed.split("=", 1)[0])
            if "=" in typed:  # `--weights=ffhq`: its value, as the word after a spaced option stays
                taken.append(typed.split("=", 1)[1])
        else:
            taken.append(typed)
    if any(w in ("--help", "-h") for w in taken):
        return taken, untaken
    try:
        left = command.make_parser(click.Context(command)).parse_args(list(taken))[1]
    except click.UsageError:
        left = ["?"]
    return (taken, untaken) if not left else (["--help"], [])


def meant_line(names: Sequence[str], command: click.Command, rest: Sequence[str]) -> str:
    """The command a mistyped one meant, `interp NAMES... WORDS...` quoted as a line that runs as written (only the
    words `command` takes, `_words_taken`), then the words it does not take, named."""
    import shlex

    taken, untaken = _words_taken(command, rest)
    line = " ".join(shlex.quote(w) for w in ["interp", *names, *taken])
    return f"`{line}`" + (f" (it takes no {', '.join(untaken)})" if untaken else "")


def _summary(command: click.Command) -> str:
    """A command's line in the top-level --help: its docstring's first paragraph without the example
    (`e.g. interp ...`), which the command's own --help shows."""
    first = " ".join((command.help or "").strip().split("\n\n")[0].split())
    return re.split(r"\s*\be\.g\.\s", first)[0].strip()


def _refuse_mistyped_command(word: str, commands, rest=()) -> None:
    """`interp morf a b`: a first argument that is no file but close to a command name is a typo, not an input.

    So is a subcommand without its group (`interp download ffhq`), whatever its spelling distance.
    """
    if word.startswith("-") or os.path.lexists(word) or "." in os.path.basename(word) or "/" in word:
        return
    # `interp help` and `interp version`, as git and many CLIs take them: the options are what interp has.
    if word in ("help", "version"):
        asked = [rest[0]] if word == "help" and rest and rest[0] in commands else []
        line = " ".join(["interp", *asked, f"--{word}"])
        raise click.UsageError(f"no such command or file '{word}'; did you mean `{line}`?")
    for group_name, group in commands.items():
        if isinstance(group, click.Group) and word in group.commands:
            raise click.UsageError(f"no such command or file '{word}'; did you mean "
                                   f"{meant_line([group_name, word], group.commands[word], rest)}?")
    import difflib

    close = difflib.get_close_matches(word, list(commands), n=1, cutoff=0.6)
    if close:
        raise click.UsageError(f"no such command or file '{word}'; did you mean '{close[0]}'?")


def _check_working_folder() -> None:
    """Refuse a command run from a folder that was removed since the shell entered it (a job's scratch folder cleaned
    up, a `git checkout` that dropped it): no relative name can be read or made there, and torch's own loading dies in
    it (MKL's "FATAL ERROR: Cannot load libtorch_cpu.so", exit 2) even for a command naming only absolute paths."""
    try:
        os.getcwd()
    except FileNotFoundError:
        from interp_cli.errors import UsageError

        raise UsageError("the current folder no longer exists (it was removed after the shell entered it): "
                         "cd to a folder that exists and run again") from None
