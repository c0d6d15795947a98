"""A seeded, time-boxed fuzzer of interp's command-line OPTIONS, every verb's, run for real in subprocesses.

    nice -n 5 .venv/bin/python benchmarks/fuzz_options.py --seconds 120 --seed 1 --failures /tmp/optfuzz
    .venv/bin/python benchmarks/fuzz_options.py --verbs morph,render --seconds 30 --seed 7
    .venv/bin/python benchmarks/fuzz_options.py --replay /tmp/optfuzz/morph-0003.json

The options are not listed here: each verb's are read from its click command (`interp_cli.cli.cli`, the weights
group's subcommands included), so an option added to interp is fuzzed without editing this file. A case is a
command line of a verb with a few of its options drawn at random, each given a value its type suggests: a valid
one (a choice, a number inside the range, an example from its help's `e.g.`), an edge (0, -1, the range's ends and
one past them, huge, nan, inf, empty, unicode, a 5,000-character word), a value of the wrong type, the option
repeated, both sides of a --x/--no-x switch, and the conflicting pairs that need a check of their own (--paste with
--no-align, --tune with .npy codes, --loop with two inputs, --sheet with frames output, --size with --paste, --json
with --debug). -o draws from every output kind (.mp4 .gif .html .png sheet .npy, a new folder/, an existing one,
a folder that is not there yet, hidden temp names, an input's own name). Costly options (--steps, --hold, --refine,
--tune, --size, --batch-size) get small valid values, so a case takes a few seconds on `--weights demo`.

Each case runs `python -m interp_cli` in a fresh folder holding its inputs, with its own cache dir, a timeout and
RLIMIT_AS. It passes when: the exit code is 0, 1 or 2; on 1 or 2 stderr is exactly one line (no traceback, no
`internal error`; with --debug a failure other than a usage error may show a traceback); a refused option (click's
usage errors, or a line naming an option of the case) exits 2, not 1; nothing is left in the folder but the inputs
and, on success, what the command wrote (no temp files, no partial output, no folder it made on a failure); the
inputs are byte-identical; with --json stdout is exactly one JSON object (batch: one per line). Failures are saved
to --failures as NNNN JSON files (the argv and the folder's setup) for --replay.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
VERBS = ("morph", "batch", "mix", "render", "encode", "align", "weights", "cache")
# Small valid values for the options whose value is the work a case does: a fuzzed --steps 900000 is a valid,
# hours-long morph, not a find. Their edges past the bounds are still drawn.
CHEAP = {"--steps": (2, 3, 4), "--hold": (0, 1, 2), "--refine": (0, 1, 2), "--tune": (0, 1, 2),
         "--size": (8, 16, 33, 64), "--batch-size": (1, 2, 3, 1000000), "--fps": (0.1, 1, 24.5, 240),
         "--quality": (0, 5, 10), "--seed": (0, 1, -1, 2 ** 63 - 1)}
# The pairs that need a check of their own: each drawn now and then as a whole.
CONFLICTS = (("--paste", "--no-align"), ("--tune", "1"), ("--loop",), ("--sheet", "sheet.png", "-o", "frames/"),
             ("--size", "16", "--paste"), ("--json", "--debug"), ("--pingpong", "--loop"),
             ("--backdrop", "c"), ("--backdrop", "b", "--no-align"), ("--interp", "spline"),
             ("--save-aligned", "crops", "--no-align"), ("--sheet", "out.png"), ("--face", "0,0,0,0"),
             ("--layers", "18-40"), ("--noise", "random", "--seed", "-5"))
# A batch's own options, drawn as a whole more often than one option in its forty: a rerun over a folder whose
# first output is there (`done/`), a shard of a rerun, crops into the outdir or onto an input.
BATCH_EXTRAS = (("--outdir", "done", "--skip-existing"), ("--shard", "2/2", "--skip-existing"),
                ("--shard", "1/2", "--outdir", "done"), ("--save-aligned", "crops"),
                ("--save-aligned", "out"), ("--save-aligned", "done", "--outdir", "done", "--skip-existing"),
                ("--skip-existing", "--json"), ("--shard", "2/3", "--json"))
EDGE_NUMBERS = ("0", "-1", "1", "2", "1e309", "-0", "nan", "inf", "-inf", "1.5", "99999999999999999999999",
                "0x10", " 3", "3 ", "+4", "1_000", "٣")
EDGE_WORDS = ("", " ", "é", "😀", "x" * 5000, "-", "--", "a,b", ",", ";", "\t", "a\nb", "../x", "/", "~", "%s",
              "{}", "NUL", "-o")
OUTPUTS = ("out.mp4", "out.gif", "out.html", "sheet.png", "out.npy", "frames/", "frames", "made/", "new/deep/x.gif",
           "exists/", "exists", "a.png", "A.PNG", "out.GIF", "out.jpg", "out.txt", "out", "é😀.gif",
           ".out.tmp-0123456789abcdef.gif", "x" * 300 + ".gif", "", ".", "..", "/", "-", "out.mp4/", "a.png/x.gif",
           "out.webm", " .gif")
VALID = {"--weights": ("demo", "demo.pt"), "--device": ("cpu", "auto"),
         "--coarse": ("a", "b", "c", "1", "2"), "--middle": ("a", "b", "c", "2"), "--fine": ("a", "b", "c", "B"),
         "--backdrop": ("a", "b", "1", "2", "c"), "--face": ("0", ",0", "0,"),
         "--layers": ("coarse", "middle", "fine", "all", "0-3", "0-1,4-9", "9"), "--shard": ("1/1", "1/2", "2/2")}
EDGE = {"--weights": ("ffhq", "owner/repo/file.pt", "owner/repo/file.pt@", "./nothing.pt", "a.png", "codes.npy",
                      "exists/", "demo.pt/"),
        "--device": ("cuda", "mps", "cuda:7", "CPU", "tpu", "cpu:0"),
        "--coarse": ("A", "d", "0", "-1", "ab", "3", "4"), "--middle": ("d", "0", "ab"), "--fine": ("d", "0", "ab"),
        "--backdrop": ("A", "d", "0", "-1", "ab", "3", "4", "2.0"),
        "--face": ("1", ",1", "0,0", "5", "-1", ",", "1.5", "0,0,0,0", ",,", "0 , 1"),
        "--layers": ("3-1", "0-99", "0-", ",", "0--1", "18", "17-17", "all,coarse", "COARSE"),
        "--shard": ("0/1", "3/2", "auto", "auto/2", "1/0", "-1/2", "1/-2", "1/99999999999999999999", "auto/0")}
# The manifests a batch case may name, as users write them: one good row; bad rows among good ones (a missing
# photo, one cell, an empty cell, a code beside a photo); odd cells (a BOM, CRLF, spaces, a quoted comma, a
# header, unicode, a trailing comma, a comment); an output that is an input, or the manifest; the same output twice
# (in two cases); a name climbing out of --outdir; a frames folder and a sheet beside a video. Each is written
# into every case's folder, so a saved failure replays from its argv alone.
MANIFESTS = {
    "pairs.csv": "a.png,b.png,ab.gif\n# a row per case: each costs a morph\n",
    "mixed.csv": "a.png,b.png,ab.gif\na.png,missing.png,am.gif\nb.png\na.png,,ae.gif\ncodes.npy,b.png,cb.mp4\n",
    "odd.csv": "\ufeffinput1,input2,output,note\r\n a.png , b.png , sp ace.gif ,\"a, b\"\r\n"
               "b.png,a.png,\"é😀,x.gif\",\r\n# done\r\n",
    "clash.csv": "a.png,b.png,ab.gif\nb.png,a.png,../a.png\n",
    "twice.csv": "a.png,b.png,ab.gif\nb.png,a.png,AB.GIF\n",
    "twice2.csv": "a.png,b.png,same/\ncodes.npy,codes_b.npy,same/\n",
    "self.csv": "a.png,b.png,../self.csv\n",
    "climb.csv": "a.png,b.png,../up.gif\nb.png,a.png,ok.gif\n",
    "kinds.csv": "a.png,b.png,f/\nb.png,a.png,s.png\ncodes.npy,a.png,v.html\na.png,b.png,c.npy\n",
    "three.csv": "a.png,b.png,codes.npy,abc.gif\na.png,b.png,a.png,b.png,abab.gif\n",
}
SETUP_FILES = ("a.png", "b.png", "obama.jpg", "biden.jpg", "demo.pt", "codes.npy", "codes_b.npy", *MANIFESTS)
FACES = ("a.png", "b.png", "obama.jpg", "biden.jpg")


# --- a case ----------------------------------------------------------------------------------------------------

def commands() -> dict[str, object]:
    """Every verb's click command, `weights list` etc. as `weights list`, read from interp itself."""
    import click

    from interp_cli.cli import cli

    out = {}
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            for sub, subcommand in command.commands.items():
                out[f"{name} {sub}"] = subcommand
        else:
            out[name] = command
    return out


def _examples(option) -> list[str]:
    """The values an option's help shows after `e.g. --opt`."""
    words = (option.help or "").split()
    return [words[i + 2] for i, w in enumerate(words[:-2]) if w == "e.g." and words[i + 1] in option.opts
            and not words[i + 2].startswith("-")]


def option_values(option, rng: random.Random) -> list[list[str]]:
    """The words one draw of `option` puts on the line: [[--opt, value]] or [[--flag]], sometimes twice."""
    import click

    name = max(option.opts, key=len)
    if option.is_flag and not option.secondary_opts and not getattr(option, "_flag_needs_value", False):
        return [[rng.choice(option.opts)]] * rng.choice((1, 1, 1, 2))
    if option.secondary_opts:
        return [[rng.choice(option.opts + option.secondary_opts)] for _ in range(rng.choice((1, 1, 1, 2)))]
    kind = option.type
    valid: list[str] = list(_examples(option))  # drawn 4 times in 5: a case with every value odd stops at the first
    edge: list[str] = list(EDGE_NUMBERS) + list(EDGE_WORDS)
    if name in CHEAP:
        valid += [str(v) for v in CHEAP[name]]
    if isinstance(kind, click.Choice):
        valid += list(kind.choices)
        edge += [kind.choices[0].upper(), kind.choices[0][:-1], "none"]
    if isinstance(kind, (click.IntRange, click.FloatRange)):
        for end in (kind.min, kind.max):
            if end is not None and (name not in CHEAP or end <= 64):
                valid.append(str(end))
            if end is not None:
                edge += [str(end - 1), str(end + 1), str(end + 0.5), str(end * 10)]
    if name == "--output" or name in ("--sheet", "--save-aligned", "--outdir"):
        valid += list(OUTPUTS[:6]) + ["made/", "exists/", "new/deep/x.gif"]
        edge += list(OUTPUTS)
    valid += VALID.get(name, ())
    edge += EDGE.get(name, ())
    pool = valid if valid and rng.random() < 0.8 else edge
    picks = [[name if len(option.opts) == 1 else rng.choice(option.opts), rng.choice(pool)]
             for _ in range(rng.choice((1, 1, 1, 1, 2)))]
    if getattr(option, "_flag_needs_value", False) and rng.random() < 0.3:
        picks = [[name]]  # a bare --tune
    return picks


def positionals(verb: str, rng: random.Random) -> list[str]:
    if verb in ("morph", "mix"):
        n = rng.choice((2, 2, 3)) if verb == "mix" else rng.choice((2, 2, 2, 2, 3, 3, 1, 4))
        faces = ["a.png", "b.png", "obama.jpg", "biden.jpg"]
        if rng.random() < 0.2:  # codes from encode, alone or beside photos: --tune, --paste, --face meet them
            faces = rng.choice((["codes.npy", "codes_b.npy"], ["a.png", "codes_b.npy"], ["codes.npy", "b.png"]))
            faces += ["obama.jpg", "biden.jpg"]
        return faces[:n] if rng.random() < 0.85 else [rng.choice(FACES + ("missing.png", "exists", "codes.npy"))
                                                      for _ in range(n)]
    if verb == "batch":
        return [rng.choice(("pairs.csv",) * 4 + tuple(MANIFESTS) * 2 + ("missing.csv", "a.png", "exists"))]
    if verb == "render":
        return [rng.choice(("codes.npy",) * 6 + ("a.png", "missing.npy", "exists"))]
    if verb == "encode":
        return [rng.choice(("a.png", "b.png", "obama.jpg", "a.png", "missing.png", "codes.npy"))]
    if verb == "align":  # photos dlib finds a face in at once (in the demo's 64 px faces it looks long, and fails)
        return [rng.choice(("obama.jpg", "biden.jpg", "obama.jpg", "a.png", "missing.png", "codes.npy"))]
    if verb in ("weights path", "weights verify", "weights download"):
        return rng.choice(([], ["demo"], ["demo"], ["ffhq"], ["demo.pt"], ["a.png"], ["owner/repo/x.pt"], [""],
                           ["é" * 300]))
    if verb == "weights remove":  # hub files the case's own Hugging Face cache holds (`hub_cache`), and what is not
        return rng.choice(([], ["ffhq"], ["ffhq"], ["owner/repo/x.pt"], ["owner/repo/x.pt"], ["owner/repo/x.pt@main"],
                           ["owner/repo/x.pt@v9"], ["owner/repo/gone.pt"], ["demo"], ["demo.pt"], ["a.png"], [""],
                           ["owner/repo/../x.pt"], ["owner/repo/x.pt@../../keep.pt"], ["owner/repo/keep.pt/"],
                           ["é" * 300]))
    return []


def make_case(verb: str, command, rng: random.Random) -> list[str]:
    """One command line (after `interp`) of `verb`."""
    options = [p for p in command.params if p.param_type_name == "option" and "--help" not in p.opts
               and "--version" not in p.opts]
    positionals_ = positionals(verb, rng)
    argv = verb.split() + positionals_
    names = {name for option in options for name in option.opts + option.secondary_opts}
    # The demo model, on the CPU, three frames a transition: each where the verb has the option.
    for option, value in (("--weights", "demo"), ("--device", "cpu"), ("--steps", "3"), ("--outdir", "out")):
        if option in names:
            argv += [option, value]
    if "--output" in names:
        valid = {"morph": OUTPUTS[:4] + OUTPUTS[5:6] + ("made/",), "mix": ("mix.png", "mix.npy"),
                 "render": ("face.png", "face.npy"), "encode": ("codes2.npy",), "align": ("crop.png",)}
        argv += ["-o", rng.choice(valid.get(verb, OUTPUTS[:6])) if rng.random() < 0.7 else rng.choice(OUTPUTS)]
    for option in rng.sample(options, k=min(len(options), rng.choice((1, 2, 3, 4, 6)))):
        for words in option_values(option, rng):
            argv += words
    conflicts = [pair for pair in CONFLICTS if all(w in names for w in pair if w.startswith("-"))]
    if conflicts and rng.random() < 0.3:
        argv += list(rng.choice(conflicts))
    if verb == "batch" and rng.random() < 0.5:
        argv += list(rng.choice(BATCH_EXTRAS))
    if rng.random() < 0.6:  # the line as a user types it: options anywhere, inputs last
        argv = argv[:len(verb.split())] + argv[len(verb.split()) + len(positionals_):] + positionals_
    if rng.random() < 0.1:
        argv.insert(rng.randrange(1, len(argv) + 1), "--debug")
    return argv


# --- running and judging one ------------------------------------------------------------------------------------

def setup(folder: Path, verb: str) -> None:
    """The files a case may name: two small faces, two photos, two codes (not for `weights`: they cost two encodes
    a run; nor for `cache`), the manifests, the demo weights, a folder, and an earlier batch's folder."""
    shutil.copy(EXAMPLES / "demo_a.png", folder / "a.png")
    shutil.copy(EXAMPLES / "demo_b.png", folder / "b.png")
    shutil.copy(EXAMPLES / "obama.jpg", folder / "obama.jpg")
    shutil.copy(EXAMPLES / "biden.jpg", folder / "biden.jpg")
    shutil.copy(REPO / "interp_cli" / "data" / "demo.pt", folder / "demo.pt")
    for name, code in (_codes() if verb not in ("weights", "cache") else {}).items():
        shutil.copy(code, folder / name)
    for name, text in MANIFESTS.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")
    (folder / "exists").mkdir()
    (folder / "done").mkdir()  # a batch's earlier run: its first row's output is there
    shutil.copy(EXAMPLES / "demo_a.png", folder / "done" / "ab.gif")


_CODES: dict[str, Path] = {}
# Where they are made: `main`'s `script_temp`, held for the run. It was removed by `atexit`, after the stop line had
# said "its temporary files were removed" while the folder was still there.
_CODES_HOME: list[Path] = []


def _codes() -> dict[str, Path]:
    """Real codes of the two demo faces from `interp encode`, made once a run, in `main`'s folder for them."""
    from interp_cli.stops import run_child

    if not _CODES:
        folder = _CODES_HOME[-1]
        for face, name in (("demo_a.png", "codes.npy"), ("demo_b.png", "codes_b.npy")):
            shutil.copy(EXAMPLES / face, folder / face)
            run_child([sys.executable, "-m", "interp_cli", "encode", face, "--weights", "demo", "-q", "-o", name,
                       "--no-cache"], cwd=folder, env=_env(folder / "cache"), check=True)
            _CODES[name] = folder / name
    return _CODES


HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"
# What `weights remove` may remove from the case's Hugging Face cache, and what it must leave: keep.pt shares x.pt's
# snapshot and repo folder.
HUB_FILES = (("AIRI-Institute/HairFastGAN", "pretrained_models/encoder4editing/e4e_ffhq_encode.pt"),
             ("owner/repo", "x.pt"), ("owner/repo", "keep.pt"))
KEPT = "huggingface/models--owner--repo/snapshots/" + HUB_COMMIT + "/keep.pt"


def hub_cache(folder: Path) -> None:
    """The files of HUB_FILES as huggingface_hub leaves them in `folder`: a blob, a relative link to it in the
    commit's snapshot, refs/main naming the commit."""
    for repo_id, filename in HUB_FILES:
        repo = folder / f"models--{repo_id.replace('/', '--')}"
        data = f"{repo_id}/{filename}".encode()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        entry = repo / "snapshots" / HUB_COMMIT / filename
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.symlink_to(os.path.relpath(blob, entry.parent))
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(HUB_COMMIT)


def _env(cache: Path) -> dict:
    # The Hugging Face cache too is the case's own: `interp weights remove ffhq`, drawn one day, must never reach a
    # download the user made, and a real ffhq there would change what `weights path ffhq` says.
    env = dict(os.environ, HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(cache), PYTHONPATH=str(REPO),
               HF_HUB_CACHE=str(cache / "huggingface"))
    env.pop("INTERP_WEIGHTS", None)
    return env


def _tree(folder: Path) -> dict[str, str]:
    """Every path under `folder` (folders end in /) and its file's sha256."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder) + "/"] = ""
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, folder)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


def _limit(mem_gb: float):
    def apply():
        cap = int(mem_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return apply


def judge(argv: list[str], inputs: list[str], rc: int | None, out: str, err: str, before: dict, after: dict,
          cache_after: dict, cache_before: dict | None = None) -> list[str]:
    """What went wrong with one case (empty: it passed). `inputs`: the files it reads, never to be touched; the
    folder's other files may be replaced by a command that succeeds, when it was told to write there."""
    problems = []
    debug = "--debug" in argv
    # A warning said before the failure (fp16 on a CPU) is its own line, not part of the error's.
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")]
    if rc is None:
        return ["timed out"]
    if rc not in (0, 1, 2):
        problems.append(f"exit code {rc}")
    if "internal error" in err.lower():
        problems.append("stderr says internal error")
    if "Traceback" in err and not (debug and rc == 1):
        problems.append("a traceback on stderr")
    batch_ran = argv[0] == "batch" and rc == 1  # its rows ran: a line a failed row, progress and a summary
    if rc in (1, 2) and not debug and len(lines) != 1 and not batch_ran:
        problems.append(f"{len(lines)} stderr lines on exit {rc}, not one")
    if rc == 1 and lines and not debug:
        line = lines[-1]
        # The line of a refused option starts with it (`interp: error: --steps 1: ...`); a runtime failure's
        # advice may name options further on.
        if "Usage:" in err or "No such option" in line or line.startswith("interp: error: -"):
            problems.append("exit 1 for what reads as a refused option: exit 2 is for usage errors")
    for path, digest in before.items():
        if after.get(path) != digest and (path in inputs or rc != 0):
            problems.append(f"{'input' if path in inputs else 'file'} {path} changed or gone (exit {rc})")
    new = sorted(set(after) - set(before))
    temps = [p for p in new + sorted(cache_after) if ".tmp-" in p or p.endswith(".tmp") or ".partial" in p]
    if temps:
        problems.append(f"temp files left: {temps[:3]}")
    # A batch makes --outdir before its rows; when none is made it removes the folder again, only while empty
    # (shards share it), so an --outdir that another row's work fills is still accepted here.
    # A batch's good rows are made beside its bad ones (exit 1, each failed row its line): what --outdir or
    # --save-aligned named may be new then.
    left = [p for p in new if not (batch_ran and (_named(p, argv) or p.endswith("/") and
                                                  not any(q.startswith(p) and q != p for q in new)))]
    if rc != 0 and left:
        problems.append(f"left behind on a failure: {left[:4]}")
    if rc == 0:
        stray = [p for p in new if not _named(p, argv)]
        if stray:
            problems.append(f"wrote what no option named: {stray[:4]}")
        empty = [w for w, after in zip(argv, argv[1:]) if w.startswith("-") and after == ""]
        if empty:
            problems.append(f"an empty value accepted: {empty[0]} ''")
    if "--json" in argv:
        problems += _json_problems(argv, out)
    if argv[:2] == ["weights", "remove"] and cache_before is not None:
        if rc != 0 and cache_after != cache_before:
            problems.append(f"a failed removal changed the Hugging Face cache: "
                            f"{sorted(set(cache_before) ^ set(cache_after))[:3]}")
        if rc == 0 and cache_after == cache_before:
            problems.append("exit 0 and nothing removed from the Hugging Face cache")
        if KEPT not in cache_after or cache_after[KEPT] != cache_before.get(KEPT):
            problems.append(f"another file of the repo went: {KEPT}")
    return problems


WRITERS = ("-o", "--output", "--sheet", "--save-aligned", "--outdir")


def _named(path: str, argv: list[str]) -> bool:
    """Whether a new `path` in the case's folder is (inside) an output the line named, or a folder above one;
    the -o a morph writes without one is morph.mp4."""
    argv = [w for w in argv if w != "--debug"]  # interp takes it out of the line wherever it is: `-o --debug x.gif`
    named = [os.path.normpath(after) for word, after in zip(argv, argv[1:]) if word in WRITERS and after]
    named += [w.split("=", 1)[1] for w in argv if w.split("=", 1)[0] in WRITERS and "=" in w]
    if argv[0] == "morph" and not any(w in ("-o", "--output") or w.startswith("--output=") for w in argv):
        named.append("morph.mp4")
    path = os.path.normpath(path.rstrip("/"))
    return any(path == n or path.startswith(n + os.sep) or n.startswith(path + os.sep) for n in named)


def _json_problems(argv: list[str], out: str) -> list[str]:
    """--json's promise: one JSON object on stdout (batch: one a line; `weights list`: its list of presets)."""
    argv = [w for w in argv if w != "--debug"]  # a --debug anywhere, `interp weights --debug list` too
    try:
        if argv[0] == "batch":
            parsed = [json.loads(line) for line in out.splitlines()]
            if parsed and all(isinstance(p, dict) for p in parsed):
                return []
        else:
            parsed = json.loads(out)
            if isinstance(parsed, dict) or argv[:2] == ["weights", "list"] and isinstance(parsed, list):
                return []
    except ValueError:
        pass
    return [f"--json stdout is not {'JSON lines' if argv[0] == 'batch' else 'one JSON object'}: {out[:160]!r}"]


def inputs_of(argv: list[str]) -> list[str]:
    """The setup files a command line reads: the words naming them (an -o naming one is the command's to refuse
    or to replace), the weights, and the manifest's photos."""
    read = {word for before, word in zip([""] + argv, argv)
            if word in SETUP_FILES and before not in ("-o", "--output", "--sheet")} | {"demo.pt"}
    for manifest in read & set(MANIFESTS):  # the files its rows name
        read |= {name for name in SETUP_FILES if name in MANIFESTS[manifest]}
    return sorted(read)


def run_case(argv: list[str], timeout: float, mem_gb: float) -> dict:
    from interp_cli.stops import run_child, script_temp  # the case's interp ended whole however the wait ends

    with script_temp("optfuzz-") as folder:  # the case's folder goes also when the fuzzer is stopped mid-case
        work, cache = folder / "w", folder / "cache"
        work.mkdir()
        setup(work, argv[0])
        if argv[:2] == ["weights", "remove"]:  # a cache to remove from (only here: `weights verify ffhq` would
            hub_cache(cache / "huggingface")  # find a fake ffhq)
        before, cache_before = _tree(work), _tree(cache) if cache.exists() else {}
        start = time.monotonic()
        try:
            done = run_child([sys.executable, "-m", "interp_cli", *argv], cwd=work, env=_env(cache),
                             capture_output=True, text=True, timeout=timeout, preexec_fn=_limit(mem_gb),
                             errors="replace", stdin=subprocess.DEVNULL)
            rc, out, err = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as e:
            rc, out, err = None, str(e.stdout or ""), str(e.stderr or "")
        seconds = time.monotonic() - start
        problems = judge(argv, inputs_of(argv), rc, out, err, before, _tree(work),
                         _tree(cache) if cache.exists() else {}, cache_before)
    return {"argv": argv, "rc": rc, "stdout": out[-2000:], "stderr": err[-4000:], "seconds": round(seconds, 2),
            "problems": problems}


# --- the loop ---------------------------------------------------------------------------------------------------

def fuzz(verbs: list[str], seconds: float, seed: int, failures: Path | None, timeout: float, mem_gb: float,
         verbose: bool) -> dict[str, tuple[int, int]]:
    all_commands = commands()
    counts = {}
    for verb in verbs:
        names = [n for n in all_commands if n == verb or n.startswith(verb + " ")]
        rng = random.Random(f"{seed}:{verb}")
        end, ran, failed = time.monotonic() + seconds, 0, 0
        while time.monotonic() < end:
            name = rng.choice(names)
            argv = make_case(name, all_commands[name], rng)
            result = run_case(argv, timeout, mem_gb)
            ran += 1
            if verbose:
                print(f"  [{result['rc']}] {result['seconds']:5.1f}s {' '.join(map(repr, argv))[:200]}", flush=True)
            if result["problems"]:
                failed += 1
                print(f"FAIL {verb} #{ran}: {result['problems']}\n  argv: {argv}\n  stderr: "
                      f"{result['stderr'][-600:]!r}", flush=True)
                if failures is not None:
                    failures.mkdir(parents=True, exist_ok=True)
                    (failures / f"{verb}-{ran:04d}.json").write_text(json.dumps(result, indent=1))
        counts[verb] = (ran, failed)
        print(f"{verb}: {ran} cases, {failed} failures (seed {seed})", flush=True)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbs", default=",".join(VERBS), help=f"comma-separated, of {','.join(VERBS)}")
    parser.add_argument("--seconds", type=float, default=60, help="time per verb")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--failures", type=Path, default=None, help="folder to save failing cases in")
    parser.add_argument("--timeout", type=float, default=90, help="seconds a case may take")
    parser.add_argument("--mem-gb", type=float, default=6)
    parser.add_argument("--replay", type=Path, default=None, help="rerun one saved failure and print the verdict")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = parser.parse_args()
    verbs = [v for v in args.verbs.split(",") if v]
    unknown = [v for v in verbs if v not in VERBS]
    if unknown:
        parser.error(f"unknown verb {unknown[0]!r}: one of {', '.join(VERBS)}")
    from interp_cli.stops import script_temp

    with script_temp("optfuzz-codes-") as codes:  # gone before a stop's line says what is left (run_script)
        _CODES_HOME.append(codes)
        if args.replay is not None:
            saved = json.loads(args.replay.read_text())
            result = run_case(saved["argv"], args.timeout, args.mem_gb)
            print(json.dumps(result, indent=1))
            return 1 if result["problems"] else 0
        counts = fuzz(verbs, args.seconds, args.seed, args.failures, args.timeout, args.mem_gb, args.verbose)
    return 1 if any(failed for _, failed in counts.values()) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    from interp_cli.stops import run_script  # a SIGTERM cleans up as Ctrl-C does

    sys.exit(run_script(main, "fuzz_options"))
