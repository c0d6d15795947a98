"""The Python caller in a notebook: what a user has in hand (a PIL image, an array, a web request's bytes, a
generator), a Ctrl-C in the middle of a call, and the examples `help()` shows."""

from __future__ import annotations

import io
import os
import pydoc
import re
import shutil
import signal
import threading
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

import interp_cli
from interp_cli import pipeline
from interp_cli.errors import UsageError
from interp_cli.pipeline import EncodeSettings, Session

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO_A, DEMO_B = str(EXAMPLES / "demo_a.png"), str(EXAMPLES / "demo_b.png")


@pytest.fixture(scope="module")
def demo():
    return Session("demo", "cpu", progress=False, log=lambda message: None)


def _in_memory(kind: str):
    """DEMO_A as a notebook holds it, bound to the name the refusal's example uses."""
    photo = PIL.Image.open(DEMO_A)
    pixels = np.asarray(photo.convert("RGB"))
    return {"pil": ("image", photo), "cmyk": ("image", photo.convert("CMYK")), "uint8": ("array", pixels),
            "float": ("array", pixels / 255.0), "bytes": ("data", Path(DEMO_A).read_bytes()),
            "bytesio": ("buffer", io.BytesIO(Path(DEMO_A).read_bytes())),
            "stack": ("stack", np.stack([pixels, np.asarray(PIL.Image.open(DEMO_B).convert("RGB"))]))}[kind]


CALLS = {
    "morph": lambda value, out, s: pipeline.morph([value, DEMO_B], out / "m.gif", session=s, steps=3),
    "morph_whole": lambda value, out, s: pipeline.morph(value, out / "m.gif", session=s, steps=3),
    "encode": lambda value, out, s: pipeline.encode(value, out / "a.npy", weights="demo", device="cpu"),
    "mix": lambda value, out, s: pipeline.mix([value, DEMO_B], out / "m.png", weights="demo", device="cpu"),
    "morph_frames": lambda value, out, s: next(s.morph_frames([value, DEMO_B], steps=3)),
    "encode_inputs": lambda value, out, s: s.encode_inputs([value, DEMO_B]),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("kind", ["pil", "cmyk", "uint8", "float", "bytes", "bytesio", "stack"])
def test_a_photo_in_memory_is_refused_with_an_example_that_runs(demo, tmp_path, monkeypatch, call, kind):
    """A PIL image, a numpy image (uint8, or float 0-1), a web request's JPEG bytes (or its BytesIO) or a stack of
    images, given where a path belongs: the refusal said "is not a path; pass a list of paths" with no way forward,
    named no place among the inputs, and for bytes printed the whole file as escapes (a 14 KB line for the demo's
    3.6 KB PNG; megabytes for a photo). It is one short line naming the keyword (and place), and its example, run
    as written with the value under the name it uses, makes a file the same call then takes."""
    name, value = _in_memory(kind)
    with pytest.raises(UsageError) as caught:
        CALLS[call](value, tmp_path, demo)
    said = str(caught.value)
    assert "\n" not in said and len(said) < 400, said
    keyword = {"morph_whole": "inputs: got ", "encode": "image=", "encode_inputs": "encode_inputs[0]: "}.get(
        call, "inputs[0]: ")
    assert said.startswith(keyword), said
    example = re.search(r".*e\.g\. (.+)$", said).group(1)  # the last example: the code
    assert not list(tmp_path.iterdir())  # nothing written
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "example", "exec"), {"PIL": PIL, "pathlib": __import__("pathlib"), name: value})
    made = sorted(str(p) for p in tmp_path.iterdir())
    assert len(made) == (2 if kind == "stack" else 1), made
    frames = list(demo.morph_frames(made if kind == "stack" else [made[0], DEMO_B], steps=3))
    expected = list(demo.morph_frames([DEMO_A, DEMO_B], steps=3))
    if kind in ("pil", "uint8", "bytes", "bytesio", "stack"):  # the same pixels: the same frames
        assert all(np.array_equal(a, b) for a, b in zip(frames, expected)) and len(frames) == 3


@pytest.mark.parametrize("kind", ["uint8", "float", "bytes", "bytesio", "path", "empty"])
def test_encode_image_takes_a_pil_image_and_says_how_to_make_one(demo, kind):
    """`Session.encode_image` ("a PIL image -> W+ code") is a notebook's way to encode a crop in memory: a numpy
    image, a request's bytes or a path failed as an AttributeError ('numpy.ndarray' object has no attribute
    'convert'), and an empty image was encoded into a code. Each is a UsageError whose example, run as written,
    makes the image that encode_image then takes."""
    value = {"path": ("path", DEMO_A), "empty": ("image", PIL.Image.new("RGB", (0, 64)))}.get(kind) or _in_memory(kind)
    with pytest.raises(UsageError) as caught:
        demo.encode_image(value[1])
    said = str(caught.value)
    assert said.startswith("encode_image: ") and "\n" not in said and len(said) < 300, said
    if kind == "empty":
        assert said == "encode_image: the image is empty (0 x 64 px)"
        return
    if kind == "path":
        assert said.endswith(f"; encode_path({DEMO_A!r}) encodes a file"), said
        return
    made = eval(said.split("; give ")[1], {"PIL": PIL, "io": io, value[0]: value[1]})
    code = demo.encode_image(made)
    assert code.shape == (10, 128)
    if kind != "float":  # the same pixels: the same code
        assert np.array_equal(code, demo.encode_image(PIL.Image.open(DEMO_A)))


def test_an_open_file_or_a_code_in_memory_says_what_to_pass(demo, tmp_path):
    """An open file as the inputs was read line by line (a TypeError from pathlib naming nothing); a code array
    [n_latent, w_dim] as an input was refused as "not a path" with no word of `.npy`."""
    with open(DEMO_A, "rb") as photo, pytest.raises(UsageError) as caught:
        pipeline.morph(photo, tmp_path / "m.gif", session=demo)
    assert str(caught.value).endswith(f"; the file's path is {DEMO_A!r}")
    code = demo.encode_inputs([DEMO_A])[0][0]
    with pytest.raises(UsageError, match=r"^inputs\[1\]: <numpy.ndarray of shape \(10, 128\)> is not a path; save a "
                                         r"code to a .npy file and pass its path, e.g. numpy.save"):
        pipeline.morph([DEMO_A, code], tmp_path / "m.gif", session=demo)
    assert not list(tmp_path.iterdir())


def test_inputs_from_a_generator_are_read_once_and_checked_as_a_lists(demo, tmp_path):
    """`(p for p in photos)` is what `sorted(glob)`-style code hands over: `mix` read it twice (an IndexError),
    `Session.encode_inputs` asked its len() (a TypeError), and a non-path inside one reached pathlib as a TypeError
    naming nothing, where a list's was a UsageError naming its place."""
    summary = pipeline.mix((p for p in [DEMO_A, DEMO_B]), tmp_path / "m.png", weights="demo", device="cpu")
    assert summary["sources"]["fine"] == DEMO_B and (tmp_path / "m.png").is_file()
    codes = [code for code, _, _ in demo.encode_inputs(p for p in [DEMO_A, DEMO_B])]
    assert [c.shape for c in codes] == [(10, 128)] * 2
    for call in (lambda: pipeline.morph((p for p in [DEMO_A, 3]), tmp_path / "g.gif", session=demo),
                 lambda: next(demo.morph_frames(p for p in [DEMO_A, 3]))):
        with pytest.raises(UsageError, match=r"^inputs\[1\]: 3 is not a path"):
            call()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png"]


@pytest.mark.parametrize("stopped", ["morph", "morph_frames"])
def test_ctrl_c_in_the_middle_of_a_call_leaves_the_session_drawing_the_same_frames(demo, tmp_path, stopped):
    """A real SIGINT (Python's own handler raises KeyboardInterrupt) half a second into a long morph on a shared
    Session: KeyboardInterrupt passes through as it is, no output or temp is left, no render thread outlives the
    call, and the next call on the same Session gives the frames it gave before."""
    before = list(demo.morph_frames([DEMO_A, DEMO_B], steps=5, cache=False))
    threads = set(threading.enumerate())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            if stopped == "morph":  # 600 frames: about 15 s on 2 cores, unfinished when the signal comes
                pipeline.morph([DEMO_A, DEMO_B], tmp_path / "m.gif", steps=600, session=demo, cache=False)
            else:
                for _ in demo.morph_frames([DEMO_A, DEMO_B], steps=600, cache=False):
                    pass
    finally:
        timer.cancel()
        timer.join()
    assert not list(tmp_path.iterdir())
    assert set(threading.enumerate()) <= threads
    after = list(demo.morph_frames([DEMO_A, DEMO_B], steps=5, cache=False))
    assert len(after) == 5 and all(np.array_equal(a, b) for a, b in zip(after, before))


def test_help_on_morph_says_where_the_frames_are_in_memory():
    """A notebook wants the frames without a file: `Session.morph_frames` gives them, but neither `help(morph)` nor
    `help(interp_cli)` said so (only the README did)."""
    for thing in (pipeline.morph, interp_cli):
        shown = pydoc.render_doc(thing, renderer=pydoc.plaintext)
        assert "morph_frames(" in shown, thing
    frames = interp_cli.Session("demo", "cpu").morph_frames([DEMO_A, DEMO_B], steps=2)
    assert [f.shape for f in frames] == [(64, 64, 3)] * 2


def test_the_package_docstring_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """`help(interp_cli)`'s example, run in a clone's root as it says (here a copy of its examples/)."""
    shutil.copytree(EXAMPLES, tmp_path / "examples", ignore=lambda d, names: [n for n in names if n != "demo_a.png"
                                                                               and n != "demo_b.png"])
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"\n\n((?:    .+\n)+)", interp_cli.__doc__)
    assert blocks
    for block in blocks:
        exec(compile("\n".join(line[4:] for line in block.splitlines()), "interp_cli.__doc__", "exec"), {})
    assert capsys.readouterr().out.split() == ["demo.gif", "60"]
    assert PIL.Image.open(tmp_path / "demo.gif").n_frames == 60


@pytest.mark.parametrize("mode", ["I;16", "RGBA"])
def test_encode_image_reads_a_16_bit_or_transparent_image_as_its_file_is_read(demo, tmp_path, mode):
    """A caller's PIL image gives the code its file gives (`encode_path`): Pillow's own convert("RGB") clipped a
    16-bit grey to white and laid a transparent image's pixels on black, where a photo file is scaled 65535 -> 255
    and laid on white (images.to_rgb)."""
    rgb = np.asarray(PIL.Image.open(DEMO_A).convert("RGB"))
    if mode == "I;16":
        image = PIL.Image.fromarray(rgb.mean(axis=2).round().astype(np.uint16) * 257)  # 16-bit grey, 257 * k
        if image.mode != "I;16":  # older Pillow makes uint16 arrays "I;16" too; keep the test's meaning explicit
            image = image.convert("I;16")
    else:
        alpha = np.full(rgb.shape[:2], 255, np.uint8)
        alpha[:, : rgb.shape[1] // 2] = 0  # half transparent
        image = PIL.Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    image.save(tmp_path / "face.png")
    from_file = demo.encode_path(str(tmp_path / "face.png"), EncodeSettings(align=False))
    assert np.array_equal(demo.encode_image(image), from_file)
