"""The README's first screen, run as a newcomer runs it, so it cannot drift from what interp does.

The first ```sh block is run line by line in a fresh folder holding a copy of `examples/`, offline and
with an empty Hugging Face cache: its `interp` lines must end in a GIF with no download. The pip lines
are checked for what they say (the CPU-only torch index), not run: the suite is already installed.
"""

from __future__ import annotations

import ast
import json
import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CPU_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def first_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block, "README.md has no ```sh block"
    head = text[:block.start()]
    assert head.count("\n## ") == 0, "the first command block must come before the first section"
    return block.group(1).splitlines()


def offline_env(tmp_path: Path) -> dict:
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hf"),
                INTERP_CACHE_DIR=str(tmp_path / "cache"), INTERP_WEIGHTS="")


def run_line(words: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    assert words[0] == "interp"
    return subprocess.run([sys.executable, "-m", "interp_cli", *words[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def invoke_line(words: list[str], cwd: Path, env: dict, monkeypatch):
    """`interp WORDS` run in this process (its exit code and stdout as a process's), in cwd with env: for the
    tests about what a run prints, where a fresh process would only add torch's import."""
    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner

    assert words[0] == "interp"
    monkeypatch.chdir(cwd)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return cli_runner().invoke(cli, words[1:])


def test_the_first_block_installs_torch_for_the_cpu_and_says_what_a_gpu_takes():
    lines = first_block()
    assert lines[0].startswith(CPU_TORCH)
    assert "with an NVIDIA GPU: pip install torch" in lines[0]
    assert any(line.startswith('pip install -e ".[align]"') for line in lines)


def test_the_first_block_runs_offline_and_ends_in_a_gif(tmp_path):
    work = tmp_path / "clone"
    shutil.copytree(ROOT / "examples", work / "examples")
    env = offline_env(tmp_path)
    commands = [shlex.split(line, comments=True) for line in first_block()]
    commands = [words for words in commands if words and words[0] != "pip"]  # installs: not run here
    assert commands, "no interp command in the first block"
    for words in commands:
        done = run_line(words, work, env)
        assert done.returncode == 0, f"{' '.join(words)}:\n{done.stderr}"
    gifs = list(work.glob("*.gif"))
    assert [g.name for g in gifs] == ["demo.gif"]
    with Image.open(gifs[0]) as gif:
        assert gif.n_frames == 60 and gif.info.get("loop") == 0
        # The demo model draws 64 px: a first GIF that small is a thumbnail in a viewer or browser tab. The line
        # asks for frames as large as the README's own picture shows them (160 px) or larger.
        assert min(gif.size) >= 160, gif.size
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").rglob("*.pt")), "nothing was downloaded"


def test_the_real_photo_line_offline_names_the_demo_weights(tmp_path):
    """The block's commented real-photo command: its inputs ship in examples/, and offline it fails in one
    line that points at `--weights demo`, which the line above shows working."""
    commented = [line.lstrip("# ").strip() for line in first_block() if line.lstrip().startswith("# interp ")]
    assert len(commented) == 1
    words = shlex.split(commented[0])
    work = tmp_path / "clone"
    shutil.copytree(ROOT / "examples", work / "examples")
    for name in words[1:3]:
        assert (work / name).is_file()
    done = run_line(words, work, offline_env(tmp_path))
    assert done.returncode == 1
    line, = done.stderr.strip().splitlines()
    assert line.startswith("interp: error: ffhq weights unavailable") and "`--weights demo`" in line


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_install_takes_the_cpu_index_only_when_asked(tmp_path):
    def torch_line(*extra):
        shown = subprocess.run(["make", "-n", "-B", "install", f"VENV={tmp_path / 'v'}", *extra], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout
        line, = [line for line in shown.splitlines() if "pip install" in line and "torch==" in line]
        return line

    assert "--index-url" not in torch_line()  # the default: PyPI's wheel, the one a GPU needs
    assert torch_line("TORCH_INDEX=https://download.pytorch.org/whl/cpu").endswith(
        '"torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu')


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_says_how_to_take_the_cpu_torch_and_takes_it(tmp_path):
    """`make demo`, the picture's own command, installs torch as `make install` does: on Linux x86-64 PyPI's CUDA
    build, several GB, unless TORCH_INDEX is given. Its README line said nothing of that; it names the setting now,
    and the setting takes the CPU wheel from PyTorch's index."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    line, = [line for line in text.splitlines() if line.startswith("make demo ")]
    assert "TORCH_INDEX" in line, line
    install, = [line for line in text.splitlines() if line.startswith("make install ")]
    assert "TORCH_INDEX=https://download.pytorch.org/whl/cpu" in install  # the "as above" the demo's line means
    shown = subprocess.run(["make", "-n", "-B", "demo", f"VENV={tmp_path / 'v'}",
                            "TORCH_INDEX=https://download.pytorch.org/whl/cpu"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout
    torch_line, = [line for line in shown.splitlines() if "pip install" in line and "torch==" in line]
    assert torch_line.endswith('"torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu'), torch_line


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_wheel_installs_torch_from_the_same_index_as_make_install(tmp_path):
    """`make test-wheel TORCH_INDEX=...` once ignored the index and pulled PyPI's CUDA wheel."""
    import importlib.util

    shown = subprocess.run(["make", "-n", "test-wheel", "TORCH_INDEX=https://download.pytorch.org/whl/cpu"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    assert 'TORCH_INDEX="https://download.pytorch.org/whl/cpu"' in shown
    spec = importlib.util.spec_from_file_location("check_wheel", ROOT / "tools" / "check_wheel.py")
    check_wheel = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_wheel)
    py = tmp_path / "python"
    assert check_wheel.torch_install(py, "torch==2.13.0", "https://download.pytorch.org/whl/cpu")[-2:] == [
        "--index-url", "https://download.pytorch.org/whl/cpu"]
    assert "--index-url" not in check_wheel.torch_install(py, "torch==2.13.0")


def test_the_code_parses_as_the_oldest_python_setup_cfg_allows():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    floor = re.fullmatch(r">=\s*3\.(\d+)", config["options"]["python_requires"].strip())
    assert floor, config["options"]["python_requires"]
    for path in sorted((ROOT / "interp_cli").rglob("*.py")):
        ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, int(floor.group(1))))


def json_bullet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("- `--json` prints one JSON document on stdout:")
    return " ".join(text[start:text.index("\n- ", start)].split())


def documented_json_keys() -> tuple[set, dict]:
    """The README's `--json` keys: the top-level ones its first sentence names (the parentheses aside), and
    for each key followed by an object, `{"a", "b"}`, that object's keys."""
    bullet = json_bullet()
    outside = bullet
    while re.search(r"\([^()]*\)", outside):
        outside = re.sub(r"\([^()]*\)", "", outside)
    sentence = outside.split(": ", 1)[1].split(". ")[0]
    top = set(re.findall(r"`(\w+)`", sentence))
    nested = {}
    for shape in re.finditer(r"`\{([^}]*)\}`", bullet):
        owner = re.findall(r"`(\w+)`", bullet[:shape.start()])[-1]
        nested[owner] = set(re.findall(r'"(\w+)"', shape.group(1)))
    return top, nested


def test_the_readme_names_every_json_key_a_morph_prints(tmp_path, monkeypatch):
    """The `--json` keys as documented against two real runs: a plain one (sheet, paste and tune `null`)
    and one with --sheet, --paste and --tune (their objects' keys). The README once listed `size`, which
    no run printed, and left out six keys that every run prints."""
    pytest.importorskip("cv2", reason="--paste needs the align extra")
    top, nested = documented_json_keys()
    assert {"reconstruction", "tune", "sheet_size", "paste", "weights"} <= set(nested)
    env = offline_env(tmp_path)
    base = ["--weights", "demo", "--steps", "2", "--json", "--quiet"]
    plain = invoke_line(["interp", "examples/demo_a.png", "examples/demo_b.png", *base, "-o", str(tmp_path / "a.gif")],
                        ROOT, env, monkeypatch)
    assert plain.exit_code == 0, plain.stderr
    plain = json.loads(plain.stdout)
    assert set(plain) == top
    assert plain["sheet"] is plain["sheet_size"] is plain["paste"] is plain["tune"] is None
    full = invoke_line(["interp", "examples/obama.jpg", "examples/biden.jpg", *base, "-o", str(tmp_path / "b.gif"),
                        "--sheet", str(tmp_path / "s.png"), "--paste", "--tune", "1"], ROOT, env, monkeypatch)
    assert full.exit_code == 0, full.stderr
    full = json.loads(full.stdout)
    assert set(full) == top
    for key, keys in nested.items():
        for value in full[key] if isinstance(full[key], list) else [full[key]]:
            assert set(value) == keys, key
    kinds = re.search(r"`kind` \(([^)]*)\)", json_bullet()).group(1)
    assert full["kind"] == "gif" and set(re.findall(r"`(\w+)`", kinds)) == {"mp4", "gif", "html", "frames", "png"}



def test_the_readme_names_the_json_keys_encode_render_and_mix_share_with_a_morph(tmp_path, monkeypatch):
    """The bullet's last sentence, against real runs: those keys are a morph's (as documented above, with
    `weights` in the same shape) and every one of the three verbs prints them. Before, encode and render
    printed `weights` as `{"id"}` alone, mix printed none of them, and the README said nothing."""
    said = re.search(r"`encode`, `render` and `mix` print the same ([^.]*)\.", json_bullet())
    assert said, "the --json bullet no longer says what encode, render and mix share with a morph"
    shared = set(re.findall(r"`(\w+)`", said.group(1)))
    top, nested = documented_json_keys()
    assert {"inputs", "weights", "device", "precision", "timings"} <= shared <= top
    env, base = offline_env(tmp_path), ["--weights", "demo", "--json", "--quiet"]
    code = str(tmp_path / "a.npy")
    for words in (["encode", "examples/demo_a.png", "-o", code], ["render", code, "-o", str(tmp_path / "a.png")],
                  ["mix", "examples/demo_a.png", "examples/demo_b.png", "-o", str(tmp_path / "m.png")]):
        done = invoke_line(["interp", *words, *base], ROOT, env, monkeypatch)
        assert done.exit_code == 0, done.stderr
        printed = json.loads(done.stdout)
        assert shared <= set(printed), words[0]
        assert set(printed["weights"]) == nested["weights"], words[0]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_bare_make_lists_every_target_and_installs_nothing(tmp_path):
    shown = subprocess.run(["make", "-n", f"VENV={tmp_path / 'v'}"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout
    assert shown == subprocess.run(["make", "-n", "help", f"VENV={tmp_path / 'v'}"], cwd=ROOT, capture_output=True,
                                   text=True, check=True).stdout
    assert "-m pip" not in shown and "-m venv" not in shown
    listed = subprocess.run(["make", "--no-print-directory", f"VENV={tmp_path / 'v'}"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    assert listed == subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True,
                                    text=True, check=True).stdout
    phony, = re.findall(r"^\.PHONY: (.*)$", (ROOT / "Makefile").read_text(), re.M)
    names = [line.split()[0] for line in listed.splitlines() if line.startswith("  ")]
    assert sorted(names) == sorted(phony.split())
    assert not (tmp_path / "v").exists()
    # The named targets still do what they did: `make test` installs first.
    assert "pip install" in subprocess.run(["make", "-n", "-B", "test", f"VENV={tmp_path / 'v'}"], cwd=ROOT,
                                           capture_output=True, text=True, check=True).stdout


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def photos(folder: Path) -> None:
    """a.jpg and b.jpg, the README's names, as the shipped photos at half size (--paste still finds their faces,
    in less time); c.jpg a third face; a.png, b.png and c.png, the --help examples' names, demo faces."""
    for name, source in (("a.jpg", "obama.jpg"), ("b.jpg", "biden.jpg"), ("photo.jpg", "obama.jpg")):
        with Image.open(ROOT / "examples" / source) as photo:
            photo.reduce(2).save(folder / name, quality=95)
    Image.open(ROOT / "examples" / "demo_a.png").convert("RGB").save(folder / "c.jpg")
    for name, source in (("a.png", "demo_a.png"), ("b.png", "demo_b.png"), ("c.png", "demo_a.png")):
        face = Image.open(ROOT / "examples" / source).convert("RGB")
        (face.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if name == "c.png" else face).save(folder / name)


def help_examples() -> list[str]:
    """Every command line the --help pages show: their Examples blocks and each `e.g. interp ...` of a command's or
    an option's help. `interp weights download ffhq` needs the hub and `interp weights verify
    ~/models/e4e_ffhq_encode.pt` a copy of it, so neither can run here."""
    import click

    from interp_cli.cli import cli

    def texts(command):
        yield from (command.help or "", command.epilog or "", *(getattr(p, "help", None) or "" for p in command.params))
        for sub in getattr(command, "commands", {}).values():
            yield from texts(sub)

    assert isinstance(cli, click.Group)
    shown = []
    for text in texts(cli):
        for paragraph in re.split(r"\n\s*\n", text):
            shown += [re.split(r" \(| {2}", m.group(1))[0].strip()
                      for m in re.finditer(r"e\.g\. (interp\b.*)", " ".join(paragraph.split()))]
            shown += [line.split("#")[0].strip() for line in paragraph.splitlines() if line.startswith("  interp ")]
    # Each needs the ffhq download here; `interp weights remove ffhq` runs on a built cache in test_weights_remove.
    hub = {"interp weights download ffhq --json", "interp weights verify ~/models/e4e_ffhq_encode.pt",
           "interp weights remove ffhq"}
    assert hub <= set(shown), "the --help pages' weights examples changed: see which can run here"
    return sorted(set(shown) - hub)


@pytest.mark.parametrize("words", [
    pytest.param(words, id=" ".join(words[:4]))
    for words in [shlex.split(line, comments=True) for line in
                  re.search(r"```sh\n(.*?)```", readme_section("Use"), re.S).group(1).splitlines()
                  + re.findall(r"^\| `(interp (?:encode|render|align|mix|batch) [^`]*)` \|", readme_section("Use"),
                               re.M)
                  + help_examples()]
    if words])
def test_every_command_the_use_section_shows_runs(words, tmp_path, monkeypatch):
    """Each line of the `## Use` block, each command of its table and each example of the --help pages, as
    written, with `--weights demo` added (the ffhq download is not here) and, to keep it short, 2 frames, one
    --refine and one --tune step. The block's `a.npy` is the table's `interp encode a.jpg -o a.npy`; `pairs.csv`
    is a two-row manifest, of which a `--shard K/N` makes its own rows."""
    pytest.importorskip("cv2", reason="--paste and `interp align` need the align extra")
    from interp_cli.cli import cli
    from tests.cli_runner import cli_runner

    monkeypatch.chdir(tmp_path)
    for name, value in offline_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    photos(tmp_path)
    (tmp_path / "pairs.csv").write_text("a.jpg,b.jpg,ab.gif\nb.jpg,c.jpg,bc.mp4\n")
    assert words[0] == "interp"
    command = words[1] if words[1] in cli.commands else "morph"
    extra = {"morph": ["--steps", "2"], "batch": ["--steps", "2"], "align": []}.get(command, [])
    if command != "align":
        extra += ["--weights", "demo"]
    if "a.npy" in words[1:] and command != "encode":
        made = cli_runner().invoke(cli, ["encode", "a.jpg", "-o", "a.npy", "--weights", "demo", "--quiet"])
        assert made.exit_code == 0, made.stderr
    typed = " ".join(words)
    typed = re.sub(r"--refine \d+", "--refine 1", typed)
    typed = re.sub(r"--tune(?! \d)", "--tune 1", typed)
    done = cli_runner().invoke(cli, shlex.split(typed)[1:] + extra + ["--quiet"])
    assert done.exit_code == 0, f"{typed}:\n{done.stderr}"
    written = [w for w in words if w.endswith((".mp4", ".gif", ".html", ".png", ".npy", "/")) and w != "a.npy"
               or w == "a.npy" and command == "encode"]
    if command == "batch":
        shard = re.search(r"--shard (\d+)/(\d+)", typed)
        k, n = (int(shard.group(1)), int(shard.group(2))) if shard else (1, 1)
        written += [name for row, name in enumerate(["out/ab.gif", "out/bc.mp4"], 1) if (row - 1) % n + 1 == k]
    if command == "morph" and "-o" not in words:
        written.append("morph.mp4")  # -o's default
    for name in written:
        assert (tmp_path / name).exists(), f"{typed}: no {name}"


# The demo weights stand in for ffhq here and draw the photos poorly, which each morph warns of (InterpWarning).
@pytest.mark.filterwarnings("ignore::interp_cli.errors.InterpWarning")
def test_the_python_example_runs(tmp_path, monkeypatch):
    """The `## From Python` block, as written but with the demo weights for ffhq and `pass` for its `...`,
    on a.jpg and b.jpg (the shipped photos: `paste=True` finds their faces)."""
    pytest.importorskip("cv2", reason="paste=True needs the align extra")
    import numpy as np

    code = re.search(r"```python\n(.*?)```", readme_section("From Python"), re.S).group(1)
    assert code.count('"ffhq"') == 2
    code = code.replace('"ffhq"', '"demo"').replace("    ...", "    pass")
    code = code.replace('"in_a.mp4", paste=True)', '"in_a.mp4", paste=True, weights="demo", steps=3)')
    monkeypatch.chdir(tmp_path)
    for name, value in offline_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    photos(tmp_path)
    names: dict = {}
    exec(compile(code, "README.md (From Python)", "exec"), names)
    assert names["summary"]["output"] == "out.mp4" and names["summary"]["frames"] == 60
    assert (tmp_path / "out.mp4").is_file() and (tmp_path / "in_a.mp4").is_file()
    frame = names["frame"]
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert names["still"].shape == frame.shape
    assert len(names["codes"]) == 2


@pytest.mark.filterwarnings("ignore::interp_cli.errors.InterpWarning")
def test_the_python_sections_bars_and_lines_go_where_it_says(tmp_path, monkeypatch):
    """The section said, right after what `morph_frames` takes, "`progress=True` draws the bars ... `log=print` gets
    the command's lines": passed there, each was "morph_frames() got an unexpected keyword argument", which said
    not where they go. The words now name Session (and morph), which take them, and morph_frames points there."""
    from interp_cli.pipeline import Session, morph

    said = " ".join(readme_section("From Python").split())
    assert "`Session(..., progress=True)` (or `morph`'s) draws the bars" in said and "`log=print` there" in said
    monkeypatch.chdir(tmp_path)
    for name, value in offline_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    faces = [str(ROOT / "examples" / "demo_a.png"), str(ROOT / "examples" / "demo_b.png")]
    session = Session("demo", progress=True, log=print)
    assert sum(1 for _ in session.morph_frames(faces, steps=2)) == 2
    lines: list = []
    morph(faces, "m.gif", weights="demo", steps=2, log=lines.append)  # the codes now cached: it says so
    assert lines, "morph(log=...) got no line"
    for name, example in (("progress", "True"), ("log", "print")):
        with pytest.raises(TypeError) as refused:
            session.morph_frames(faces, steps=2, **{name: eval(example)})
        assert f"Session(weights, {name}={example})" in str(refused.value)
        Session("demo", **{name: eval(example)})  # as the message says


def test_every_readme_section_the_project_cites_is_there():
    """setup.cfg, the Makefile and the code send readers to README sections by name (`README, "Batch jobs"`,
    `README.md, Development`); setup.cfg's comment on the dependency floors named "Tested dependency
    versions", a section the README no longer had."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = [m.group(1).strip() for m in re.finditer(r"^#{1,6} (.+)$", readme, re.M)]
    cited = []
    for path in [ROOT / "setup.cfg", ROOT / "Makefile", *sorted((ROOT / "interp_cli").rglob("*.py"))]:
        text = " ".join(path.read_text(encoding="utf-8").replace("#", " ").split())
        for m in re.finditer(r'(?<![/\w])README(?:\.md)?,? "([^"]+)"|(?<![/\w])README\.md, (\w[\w ]*)\)', text):
            cited.append((path.name, m.group(1) or m.group(2)))
    assert len(cited) >= 3, cited
    for where, section in cited:
        assert any(h == section or h.startswith(section + " ") for h in headings), f"{where}: README has no {section!r}"


def _github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation but `-` and `_` dropped, spaces as
    `-`, a repeated one numbered `-1`, `-2`...; and those set by hand with `<a id=...>`."""
    seen: dict[str, int] = {}
    anchors = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        heading = None if in_code else re.match(r"#{1,6} (.+)$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
        anchors.update(re.findall(r'<a (?:id|name)="([^"]+)"', line))  # an anchor set by hand
    return anchors


def test_every_link_between_the_projects_pages_leads_somewhere():
    """A link in a page is read from that page's folder: benchmarks/README.md linked `examples/parallel.sh`
    and `benchmarks/README.md#dependency-floors` as if it sat at the top, and both led nowhere on GitHub.
    Every relative link of every page must name a file that is there and, with `#`, a heading of it."""
    pages = [ROOT / "README.md", *sorted(ROOT.glob("*/README.md"))]
    checked = 0
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}: ({target})"
            assert linked.exists(), f"{where}: no such file"
            if anchor and linked.suffix == ".md":
                assert anchor in _github_anchors(linked.read_text(encoding="utf-8")), f"{where}: no such heading"
            checked += 1
    assert checked >= 20, checked


def test_the_batch_scripts_own_pairs_run_without_the_align_extra_as_its_pages_say(tmp_path):
    """examples/batch.sh and examples/README.md said its real-photo pair needs the `align` extra; the demo model
    takes photos unaligned, so it never did. Run as a user without the extra has it (cv2 and dlib's model
    package not importable), the script makes all three of its pairs, and neither page says otherwise."""
    for page in (ROOT / "examples" / "batch.sh", ROOT / "examples" / "README.md"):
        text = " ".join(page.read_text(encoding="utf-8").split())
        assert "needs the face-alignment extra" not in text, page
    hook = tmp_path / "hook"
    hook.mkdir()
    # None in sys.modules: importing the name fails and importlib.util.find_spec answers None, as when not installed.
    (hook / "sitecustomize.py").write_text("import sys\nfor name in ('cv2', 'dlib', '_dlib_pybind11', "
                                           "'face_recognition_models'):\n    sys.modules[name] = None\n")
    env = dict(os.environ, PYTHONPATH=f"{hook}{os.pathsep}{ROOT}", HF_HUB_OFFLINE="1", INTERP_WEIGHTS="",
               INTERP_CACHE_DIR=str(tmp_path / "cache"), OUT_DIR=str(tmp_path / "out"), STEPS="3",
               INTERP=f"{sys.executable} -m interp_cli")
    probe = subprocess.run([sys.executable, "-c", "from interp_cli.align import alignment_available as a; "
                            "print(a())"], env=env, capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "False", probe.stderr  # the extra is out of reach, as for that user
    done = subprocess.run(["bash", str(ROOT / "examples" / "batch.sh")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "3 of 3 pairs succeeded"
    assert (tmp_path / "out" / "obama_to_biden.mp4").stat().st_size > 0


def test_the_batch_script_reads_a_pairs_file_and_its_images_from_where_it_is_run(tmp_path):
    """examples/batch.sh changed to the repository first, so `examples/batch.sh pairs.txt` run from the user's
    own folder said "cannot read pairs file", the pairs' relative image paths were looked for in the repository,
    and the videos landed there. Now the pairs file, its images and OUT_DIR are the caller's folder's, while the
    built-in pairs still find their images in the repository."""
    work = tmp_path / "my work"
    (work / "faces").mkdir(parents=True)
    for name in ("demo_a.png", "demo_b.png"):
        shutil.copy(ROOT / "examples" / name, work / "faces" / name)
    (work / "pairs.txt").write_text("mine faces/demo_a.png faces/demo_b.png\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERP", "HF_", "OUT_DIR"))}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(tmp_path / "cache"), STEPS="2",
               INTERP=f"{sys.executable} -m interp_cli")
    script = os.path.relpath(ROOT / "examples" / "batch.sh", work)
    done = subprocess.run(["bash", script, "pairs.txt"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "1 of 1 pairs succeeded"
    assert (work / "out" / "batch" / "mine.mp4").stat().st_size > 0
    assert json.loads((work / "out" / "batch" / "mine.json").read_text())["frames"] == 2
    assert not (ROOT / "out" / "batch" / "mine.mp4").exists()


def test_make_demo_installs_only_torch_and_interp_and_ends_in_words_not_json(tmp_path):
    """`make demo` on a fresh clone installed the dev and align extras (pytest, ruff, Playwright, OpenCV, dlib's
    model, ...) to draw a demo that needs none of them, and its second step printed the whole --json summary.
    Read from make's own plan (`make -n`) for a fresh venv: one interp install, no extras, no --json."""
    venv = tmp_path / "venv"
    done = subprocess.run(["make", "-n", f"VENV={venv}", "demo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    installs = [line for line in done.stdout.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert [line.split("pip install -q ", 1)[1] for line in installs if "-e " in line] == ["-e ."], installs
    assert "[dev" not in done.stdout and "align" not in done.stdout
    assert "interp_cli examples/demo_a.png" in done.stdout and "--json" not in done.stdout
    plan = subprocess.run(["make", "-n", f"VENV={venv}", "test"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60).stdout
    assert '-e ".[dev,align]"' in plan  # the suite still gets both extras


def test_every_file_in_examples_has_its_row_in_the_examples_page():
    """examples/README.md says what each file there is and under which license; examples/demo.gif, the README's
    first picture, had no row, so its provenance was nowhere. Every file in the folder has one now."""
    page = (ROOT / "examples" / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([^`]+)` \|", page, re.M))
    files = {path.name for path in (ROOT / "examples").iterdir() if path.is_file() and path.name != "README.md"}
    assert files - rows == set(), "no row in examples/README.md"
    assert rows - files == set(), "a row for a file that is not there"
    with Image.open(ROOT / "examples" / "demo.gif") as gif:
        said = re.search(r"^\| `demo\.gif` \|[^|]*\((\d+) frames, (\d+) px\)", page, re.M)
        assert said and (gif.n_frames, gif.size) == (int(said.group(1)), (int(said.group(2)),) * 2)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_readme_pictures_are_what_their_commands_make(tmp_path):
    """The GIF's caption command and `make demo`'s sheet command, run as written (one --tune step, not 50: the
    pictures' shapes do not depend on it), give the frame count, size, timing and loop of the shipped files."""
    caption = " ".join(readme_section_before_use().split())
    typed = re.search(r"The GIF is `(interp [^`]*)`", caption).group(1)
    words = shlex.split(re.sub(r"--tune(?! \d)", "--tune 1", typed))
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = offline_env(tmp_path)
    done = run_line(words + ["--quiet"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "demo.gif") as made, Image.open(ROOT / "examples" / "demo.gif") as shipped:
        assert (made.n_frames, made.size, made.info["duration"], made.info.get("loop")) == (
            shipped.n_frames, shipped.size, shipped.info["duration"], shipped.info.get("loop"))
    plan = subprocess.run(["make", "-n", f"VENV={tmp_path / 'v'}", "PY=interp", "demo"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60).stdout
    sheet_line, = [line for line in plan.replace("\\\n", " ").splitlines() if "--sheet" in line]
    # This one with its whole --tune: the Makefile's comment says what the ends measure, tuned and not.
    words = shlex.split(sheet_line.replace("interp -m interp_cli", "interp"))
    (tmp_path / "out").mkdir()
    done = run_line(words + ["--json"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    ends = json.loads(done.stdout)["reconstruction"]
    said = re.search(r"--tune: the ends ([\d.]+)-([\d.]+) dB instead of ([\d.]+)-([\d.]+)",
                     (ROOT / "Makefile").read_text(encoding="utf-8"))
    measured = [min(e["psnr"] for e in ends), max(e["psnr"] for e in ends),
                min(e["untuned_psnr"] for e in ends), max(e["untuned_psnr"] for e in ends)]
    # Another CPU or torch moves pixels by a few levels (README, Scripting): a tenth of a dB or two.
    assert all(abs(float(a) - b) <= 0.3 for a, b in zip(said.groups(), measured)), (said.groups(), measured)
    with Image.open(tmp_path / "out" / "demo_sheet.png") as made:
        assert made.size == Image.open(ROOT / "examples" / "demo_sheet.png").size


def readme_section_before_use() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text[:text.index("\n## Use\n")]


def test_the_weights_page_names_what_tells_one_version_of_a_file_from_another():
    """weights/README.md said a remembered sha256 was keyed by the file's path, size and modification time: read
    so, a checkpoint swapped in by `cp -p` or `rsync -t` (the old size and mtime) would pass unhashed. The record
    also holds ctime and the inode (`sha256_record._version`, test_weights' swapped-file test): the page says so."""
    import os

    from interp_cli.sha256_record import _version

    page = " ".join((ROOT / "weights" / "README.md").read_text(encoding="utf-8").split())
    said = page[page.index("each hash is remembered in `sha256-records.json`"):]
    said = said[:said.index("Deleting the record file")]
    words = {"size": "size", "mtime_ns": "modification time", "ctime_ns": "change time", "ino": "inode"}
    assert set(_version(os.stat(ROOT / "README.md"))) == set(words)
    for field, word in words.items():
        assert word in said, f"weights/README.md does not say the record checks the file's {word} ({field})"
    assert "cp -p" in said


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_weights_page_trains_the_demo_model_with_the_makefiles_options(tmp_path):
    """weights/README.md lists the eight runs that made the shipped demo model, and says `make demo-weights` runs
    them. Its runs 1 and 2 read `python -m weights.train_demo --minutes 62` with no `--adv-weight 0`: run today,
    that trains with a discriminator (the default became 0.02 after them), which the Makefile and the shipped
    model do not. Each run, parsed by train_demo itself, is the Makefile's, but for where files go and how many
    threads ran it (run 8 had one, beside its twin), and the generator's rate where the generator is frozen."""
    from weights.train_demo import parse_args

    page = " ".join((ROOT / "weights" / "README.md").read_text(encoding="utf-8").split())
    listed = page[page.index("**Training command**"):page.index("In total about")]
    runs, last = [], None
    for number in range(1, 9):
        said = re.search(rf" {number}\. (?:`python -m weights\.train_demo ([^`]*)`|the same command with `([^`]*)`)",
                         listed)
        assert said, f"weights/README.md: no run {number}"
        words = shlex.split(said.group(1)) if said.group(1) else [*last, *shlex.split(said.group(2))]
        runs.append(words)
        last = words
    plan = subprocess.run(["make", "-n", f"VENV={tmp_path / 'v'}", "PY=python", "demo-weights"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60).stdout
    made = [shlex.split(line.split("weights.train_demo", 1)[1]) for line in plan.splitlines()
            if "-m weights.train_demo" in line]
    assert len(made) == len(runs) == 8
    where = {"threads", "out", "log", "snapshots", "save_every", "cache_dir"}
    for number, (readme, makefile) in enumerate(zip(runs, made), 1):
        a, b = vars(parse_args(readme)), vars(parse_args(makefile))
        ignored = where | ({"lr_g"} if a["freeze_generator"] else set())
        differ = {key: (a[key], b[key]) for key in a if key not in ignored and a[key] != b[key]}
        assert not differ, f"run {number}: weights/README.md and the Makefile differ in {differ}"
