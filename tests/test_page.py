"""`-o morph.html` (interp_cli/page.py): one self-contained page, checked as written and in a real
headless Chromium (Debian's `chromium`, driven by Playwright; skipped only when either is missing) and in a
real headless Firefox (Debian's `firefox-esr`, driven over Marionette by tests/firefox.py; skipped only when
no Firefox is on PATH)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import interp_cli.align as align
from interp_cli.cli import cli
from interp_cli.likeness import psnr
from interp_cli.page import CROP_MAX, encode_jpeg, jpeg_quality, page_about
from interp_cli.write import open_writer
from tests.browser import shown_frame
from tests.cli_runner import cli_runner
from tests.firefox import Firefox, firefox

ROOT = Path(__file__).resolve().parents[1]
DEMO_A, DEMO_B = ROOT / "examples" / "demo_a.png", ROOT / "examples" / "demo_b.png"
FACES = ROOT / "tests" / "data" / "faces"
STEPS = 60  # the default: the size goal is stated for it


def run(*args):
    return cli_runner().invoke(cli, [str(a) for a in args])


def page_frames(path: Path) -> list[np.ndarray]:
    """The frames a page embeds, decoded by Pillow, in order (an index entry repeats an earlier frame): frame 0
    is the <img>'s src as written, the others are pushed by chunks of `<script>FRAMES.push(...)</script>`."""
    text = path.read_text(encoding="utf-8")
    header = re.search(r'^var HEADER = "([^"]*)";$', text, re.M).group(1)
    first = re.search(r'<img id="frame" [^>]*src="data:image/jpeg;base64,([^"]+)"', text).group(1)
    entries = []
    for chunk in re.findall(r"^<script>\nFRAMES\.push\(\n(.*?)\);\n</script>$", text, re.M | re.S):
        entries += [json.loads(line.rstrip(",")) for line in chunk.splitlines()]
    assert entries[0] is None and None not in entries[1:]  # frame 0: the <img>'s own src
    decoded = []
    for entry in entries:
        if entry is None:
            jpeg = base64.b64decode(first)
        elif isinstance(entry, int):
            assert entry < len(decoded) and not isinstance(entries[entry], int)  # points back at a real frame
            decoded.append(decoded[entry])
            continue
        else:
            jpeg = base64.b64decode(entry[1:] if entry.startswith("!") else header + entry)  # as the page joins them
        decoded.append(np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")))
    return decoded


def frames_dir(path: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(path.glob("frame_*.png"))]


def _gradients(n: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return [np.stack([127 + 100 * np.sin(x / width * 3 + i * 0.3), 127 + 100 * np.cos(y / height * 3 - i * 0.2),
                      np.full_like(x, 40 + 20 * i)], axis=-1).round().astype(np.uint8) for i in range(n)]


# --- the file ---------------------------------------------------------------------------------------------


def test_every_frame_is_in_the_page_in_order_and_a_repeat_is_stored_once(tmp_path):
    frames = _gradients(4)
    sequence = [frames[0], frames[1], frames[2], frames[1], frames[3]]  # frame 3 repeats frame 1 (a --hold)
    with open_writer(tmp_path / "m.html", fps=12, quality=8) as writer:
        for frame in sequence:
            writer.write(frame)
    shown = page_frames(tmp_path / "m.html")
    assert len(shown) == len(sequence)
    for got, want in zip(shown, sequence):
        assert psnr(got, want) >= 35
    text = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert "\n1,\n" in text  # the repeat is an index, not a second copy
    assert '"fps": 12.0' in text and os.listdir(tmp_path) == ["m.html"]


def test_frames_share_one_stored_jpeg_header_and_one_that_differs_is_stored_whole(tmp_path, monkeypatch):
    import interp_cli.page as page

    real = page.encode_jpeg
    calls = []

    def one_frame_at_another_quality(image, quality):
        calls.append(1)
        return real(image, 40 if len(calls) == 2 else quality)  # other quantisation tables: another header

    monkeypatch.setattr(page, "encode_jpeg", one_frame_at_another_quality)
    frames = _gradients(3)
    with open_writer(tmp_path / "m.html") as writer:
        for frame in frames:
            writer.write(frame)
    text = (tmp_path / "m.html").read_text(encoding="utf-8")
    header = re.search(r'^var HEADER = "([^"]*)";$', text, re.M).group(1)
    assert len(base64.b64decode(header)) % 3 == 0 and len(header) > 200  # SOI, JFIF, tables, frame header
    assert text.count('\n"!/9j/') == 1  # the odd one, whole
    assert [psnr(a, b) >= 30 for a, b in zip(page_frames(tmp_path / "m.html"), frames)] == [True] * 3


def test_quality_maps_to_jpeg_quality_and_out_of_range_is_refused(tmp_path):
    assert [jpeg_quality(q) for q in (0, 5, 8, 10)] == [50, 75, 90, 100]
    frame = _gradients(1, 128, 128)[0]
    sizes = {}
    for quality in (2, 8):
        with open_writer(tmp_path / f"q{quality}.html", quality=quality) as writer:
            writer.write(frame)
        sizes[quality] = (tmp_path / f"q{quality}.html").stat().st_size
    assert sizes[2] < sizes[8]
    with pytest.raises(Exception, match="quality must be a number from 0 to 10"):
        open_writer(tmp_path / "bad.html", quality=11)
    assert sorted(os.listdir(tmp_path)) == ["q2.html", "q8.html"]


def test_names_are_escaped_and_the_likeness_numbers_are_shown(tmp_path):
    crop = np.full((300, 300, 3), 90, np.uint8)
    about = page_about(["dir/<b>&x.png", "c.npy"], [crop, None],
                       [{"psnr": 27.46, "ssim": 0.8912, "poor": False}, {"psnr": None, "ssim": None, "poor": False}])
    with open_writer(tmp_path / "m.html", about=about) as writer:
        writer.write(_gradients(1)[0])
    text = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;&amp;x.png" in text and "<b>&x" not in text
    assert "27.5 dB \u00b7 SSIM 0.89" in text and "a code, no photo" in text
    crops = re.findall(r'<img src="data:image/jpeg;base64,([^"]+)"', text)
    assert len(crops) == 1 and Image.open(io.BytesIO(base64.b64decode(crops[0]))).size == (CROP_MAX, CROP_MAX)


@pytest.mark.skipif(os.name != "posix" or sys.getfilesystemencoding() != "utf-8",
                    reason="needs a file system that takes any bytes in names")
def test_names_that_are_not_utf8_are_shown_with_a_replacement_character_on_the_page_and_in_json(tmp_path):
    # `cp a.png $'in\xff.png'`: the page is written (it used to fail after rendering, exit 1), and the --json
    # line is one that strict parsers take (it carried a lone surrogate escape "\udcff", which they refuse).
    odd = os.fsdecode(b"in\xff.png")
    (tmp_path / odd).write_bytes(DEMO_A.read_bytes())
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-m", "interp_cli", odd, str(DEMO_B), "--weights", "demo", "--steps", "3",
                           "-o", os.fsdecode(b"page\xfe.html"), "--json"], cwd=tmp_path, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("utf-8", errors="strict")
    summary = json.loads(text)
    assert summary["inputs"] == ["in\ufffd.png", str(DEMO_B)] and summary["output"] == "page\ufffd.html"
    assert summary["reconstruction"][0]["input"] == "in\ufffd.png"
    json.dumps(summary, ensure_ascii=False).encode("utf-8", errors="strict")  # no lone surrogate anywhere
    assert json.loads(json.dumps(summary)) == summary
    page = (tmp_path / os.fsdecode(b"page\xfe.html")).read_bytes().decode("utf-8", errors="strict")
    assert "<title>in\ufffd.png \u2192 demo_b.png</title>" in page and "a. in\ufffd.png" in page
    assert len(page_frames(tmp_path / os.fsdecode(b"page\xfe.html"))) == 3


def test_the_report_measured_after_the_frames_fills_the_likeness_lines(tmp_path):
    # A morph measures likeness on its own end frames, so the numbers reach the page after the frames:
    # the cards are written empty with the first frame and a script after the frames fills them.
    about = page_about(["a.png", "c.npy"], [np.full((64, 64, 3), 90, np.uint8), None])
    with open_writer(tmp_path / "m.html", about=about) as writer:
        for frame in _gradients(2):
            writer.write(frame)
        writer.report([{"psnr": 27.46, "ssim": 0.8912, "identity": 0.41, "poor": False},
                       {"psnr": None, "ssim": None, "identity": None, "poor": False}])
    text = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert '<span class="like" id="like0"></span>' in text  # the card, before the frames
    assert text.index('id="like0"') < text.index('getElementById("like0").innerHTML')
    assert '"27.5 dB \\u00b7 SSIM 0.89 \\u00b7 identity 0.41"' in text
    assert '"a code, no photo"' in text


def test_a_card_says_a_photo_was_drawn_poorly_and_after_tune_what_the_untuned_model_drew(tmp_path):
    """The likeness line under a crop says what the terminal says: "poor" (marked) for a photo the model drew
    poorly, and after --tune the untuned model's dB beside the tuned one's; a well-drawn, untuned photo neither.
    Only test_tune's morphs saw the untuned dB on a page, and no test the "poor" mark."""
    about = page_about(["a.png", "b.png"], [np.full((64, 64, 3), 90, np.uint8)] * 2,
                       [{"psnr": 14.04, "ssim": -0.004, "poor": True, "untuned_psnr": 12.96},
                        {"psnr": 27.46, "ssim": 0.8912, "poor": False}])
    with open_writer(tmp_path / "m.html", about=about) as writer:
        writer.write(_gradients(1)[0])
    text = (tmp_path / "m.html").read_text(encoding="utf-8")
    lines = re.findall(r'<span class="like" id="like\d">(.*?)</span>', text)
    assert lines == ['14.0 dB \u00b7 SSIM 0.00 (13.0 dB untuned) <b class="poor">poor</b>',
                     "27.5 dB \u00b7 SSIM 0.89"], lines


def test_a_morph_through_more_than_26_inputs_labels_them_a_to_z_then_by_number(tmp_path):
    """Each input's card is labelled by a letter, a. to z.; the 27th and later by their place (27.), not an
    IndexError after the frames were rendered, nor a letter used twice."""
    names = [f"p{k}.png" for k in range(28)]
    with open_writer(tmp_path / "m.html", about=page_about(names, [None] * 28)) as writer:
        writer.write(_gradients(1)[0])
    labels = re.findall(r'<span class="name">([^<]*)</span>', (tmp_path / "m.html").read_text(encoding="utf-8"))
    assert labels == [f"{letter}. p{k}.png" for k, letter in enumerate("abcdefghijklmnopqrstuvwxyz")] + \
        ["27. p26.png", "28. p27.png"]


def test_a_page_that_fails_midway_leaves_no_file_and_no_descriptor_open(tmp_path):
    """A morph that fails after some frames (a service writing many pages, some failing) leaves neither the page's
    temp nor its open file: a descriptor left open per failed page ran a long-lived caller out of them."""
    def descriptors():
        return len(os.listdir("/proc/self/fd"))

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd")
    before = descriptors()
    with pytest.raises(RuntimeError, match="the next photo"):
        with open_writer(tmp_path / "m.html") as writer:
            for frame in _gradients(3):
                writer.write(frame)
            raise RuntimeError("the next photo could not be read")
    assert os.listdir(tmp_path) == [] and descriptors() == before


def test_memory_does_not_grow_with_frame_count(tmp_path):
    frame = _gradients(1, 256, 256)[0]

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            with open_writer(tmp_path / f"m{n}.html") as writer:
                for _ in range(n):
                    writer.write(frame + np.uint8(n % 7))  # distinct from the last run, equal within one
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(10), peak(100)
    # Keeping the 90 extra frames (or their JPEGs) would cost at least 90 * 8 KB.
    assert large - small < 300_000, (small, large)


# --- through the CLI, with the demo model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The demo morph written twice with the same options: as PNG frames and as a page (with a sheet)."""
    out = tmp_path_factory.mktemp("page")
    common = [DEMO_A, DEMO_B, "--weights", "demo", "--steps", STEPS]
    frames = run(*common, "-o", f"{out}/frames/")
    assert frames.exit_code == 0, frames.stderr
    page = run(*common, "-o", out / "m.html", "--sheet", out / "sheet.png", "--json")
    assert page.exit_code == 0, page.stderr
    return out, json.loads(page.stdout)


def test_the_page_holds_the_frames_the_frames_directory_holds(made):
    out, summary = made
    assert summary["kind"] == "html" and summary["frames"] == STEPS and summary["sheet"]
    written = frames_dir(out / "frames")
    shown = page_frames(out / "m.html")
    assert len(shown) == len(written) == STEPS
    assert min(psnr(a, b) for a, b in zip(shown, written)) >= 35
    assert Image.open(out / "sheet.png").size[0] > 64 * 8
    # Size: within 1.5x of the same frames as .jpg files at the same JPEG quality.
    files = sum(len(encode_jpeg(frame, jpeg_quality(8))) for frame in written)
    assert (out / "m.html").stat().st_size < 1.5 * files  # the player and the inputs' crops included
    text = (out / "m.html").read_text(encoding="utf-8")
    assert "demo_a.png" in text and f"{summary['reconstruction'][0]['psnr']:.1f} dB" in text and "SSIM" in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing fetched from anywhere


def test_pingpong_pages_keep_the_videos_frame_order(tmp_path):
    common = [DEMO_A, DEMO_B, "--weights", "demo", "--steps", 4, "--pingpong", "--hold", 1]
    assert run(*common, "-o", f"{tmp_path}/frames/").exit_code == 0
    assert run(*common, "-o", tmp_path / "pp.html").exit_code == 0
    written, shown = frames_dir(tmp_path / "frames"), page_frames(tmp_path / "pp.html")
    assert len(shown) == len(written) == 8
    assert min(psnr(a, b) for a, b in zip(shown, written)) >= 35


def test_a_code_input_is_shown_as_its_rendering(tmp_path):
    assert run("encode", DEMO_B, "-o", tmp_path / "b.npy", "--weights", "demo").exit_code == 0
    result = run(DEMO_A, tmp_path / "b.npy", "--weights", "demo", "--steps", 2, "-o", tmp_path / "m.html")
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert "b.npy" in text and "a code, no photo" in text
    crops = [np.asarray(Image.open(io.BytesIO(base64.b64decode(uri))).convert("RGB"))
             for uri in re.findall(r'<img src="data:image/jpeg;base64,([^"]+)"', text)]
    assert len(crops) == 2
    assert psnr(crops[1], page_frames(tmp_path / "m.html")[-1]) >= 30  # the code's render is the last frame


def test_a_batch_row_ending_in_html_writes_a_page(tmp_path):
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{DEMO_A},{DEMO_B},pages/one.html\n{DEMO_B},{DEMO_A},two.gif\n")
    result = run("batch", manifest, "--outdir", tmp_path / "out", "--weights", "demo", "--steps", 3, "--sheets")
    assert result.exit_code == 0, result.stderr
    assert len(page_frames(tmp_path / "out" / "pages" / "one.html")) == 3
    assert (tmp_path / "out" / "pages" / "one.sheet.png").exists() and (tmp_path / "out" / "two.gif").exists()


@pytest.mark.skipif(not align.alignment_available(), reason="the align extra is not installed")
def test_paste_writes_the_photo_sized_frames_into_the_page(tmp_path):
    result = run(FACES / "obama.jpg", FACES / "biden.jpg", "--weights", "demo", "--paste", "--size", 200,
                 "--steps", 2, "-o", tmp_path / "p.html", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    shown = page_frames(tmp_path / "p.html")
    assert len(shown) == 2 and shown[0].shape == (summary["height"], 200, 3)


# --- in a real browser ------------------------------------------------------------------------------------


class Visit:
    """One page load that records every request and every console error."""

    def __init__(self, browser, url: str, viewport=(1280, 800)):
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=1)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.route("**/*", self._only_local)
        self.page.goto(url)

    def _only_local(self, route):
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            route.abort()

    def shown(self) -> tuple[int, np.ndarray]:
        """(the frame number the page says, the pixels of the displayed frame as decoded by the browser)."""
        return shown_frame(self.page)

    def wait_for(self, wanted, seconds: float = 5) -> None:
        """Poll the shown frame number until `wanted(number)` (wait_for_function would need eval, which the
        page's Content-Security-Policy forbids in older Playwright releases)."""
        for _ in range(int(seconds * 20)):
            if wanted(self.number()):
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"the page stayed at frame {self.number()}")

    def number(self) -> int:
        return int(self.page.evaluate("() => document.getElementById('count').textContent").split("/")[0])

    def fragment(self, expected: str | None = None) -> str:
        """The address's fragment, once it reads `expected` if given (the page updates it at most 4 times a
        second, then catches up; up to 2 s)."""
        for _ in range(40):
            fragment = self.page.evaluate("location.hash")
            if expected is None or fragment == expected:
                break
            self.page.wait_for_timeout(50)
        return fragment

    def close(self) -> None:
        self.page.close()


def test_the_page_opens_at_the_fragments_frame_and_shows_the_frames_pixels(browser, made):
    out, summary = made
    written = frames_dir(out / "frames")
    url = (out / "m.html").as_uri()
    for number in (0, STEPS // 2, STEPS - 1):
        visit = Visit(browser, f"{url}#frame={number}")
        shown_number, pixels = visit.shown()
        assert shown_number == number
        assert psnr(pixels, written[number]) >= 35, number
        assert visit.requests == [f"{url}#frame={number}"] or visit.requests == [url]  # the page itself, only
        assert visit.errors == []
        # The report's numbers, written after the frames, are shown under each input's crop.
        shown_likeness = visit.page.evaluate("() => document.getElementById('like0').textContent")
        assert shown_likeness.startswith(f"{summary['reconstruction'][0]['psnr']:.1f} dB"), shown_likeness
        visit.close()


def test_slider_keys_and_play_change_the_frame_and_the_fragment(browser, made):
    out, _ = made
    written = frames_dir(out / "frames")
    visit = Visit(browser, (out / "m.html").as_uri())
    page = visit.page
    assert visit.shown()[0] == 0
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert visit.shown()[0] == 2 and visit.fragment("#frame=2") == "#frame=2"
    page.keyboard.press("End")
    number, pixels = visit.shown()
    assert number == STEPS - 1 and visit.fragment(f"#frame={STEPS - 1}") == f"#frame={STEPS - 1}"
    assert psnr(pixels, written[-1]) >= 35
    page.keyboard.press("ArrowLeft")
    assert visit.shown()[0] == STEPS - 2
    page.keyboard.press("Home")
    assert visit.shown()[0] == 0 and visit.fragment("#frame=0") == "#frame=0"
    # Keys on the focused slider move it once, not twice.
    page.focus("#slider")
    page.keyboard.press("ArrowRight")
    assert visit.shown()[0] == 1 and page.eval_on_selector("#slider", "s => s.value") == "1"
    # Dragging the slider's thumb to its right end.
    box = page.locator("#slider").bounding_box()
    page.mouse.move(box["x"] + 8, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=4)
    middle = visit.shown()[0]
    assert 0 < middle < STEPS - 1 and visit.fragment(f"#frame={middle}") == f"#frame={middle}"
    page.mouse.move(box["x"] + box["width"] + 20, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    assert visit.shown()[0] == STEPS - 1 and visit.fragment(f"#frame={STEPS - 1}") == f"#frame={STEPS - 1}"
    # Play loops past the end (back to 0 and on); pause keeps the moment in the address.
    page.click("#play")
    visit.wait_for(lambda number: number != STEPS - 1)
    page.click("#play")
    stopped = visit.shown()[0]
    assert stopped < STEPS - 1 and visit.fragment(f"#frame={stopped}") == f"#frame={stopped}"
    # A fragment typed into the address bar is followed too.
    page.evaluate("location.hash = '#frame=3'")
    visit.wait_for(lambda number: number == 3)
    assert psnr(visit.shown()[1], written[3]) >= 35
    assert visit.errors == [] and all(url.startswith("file:") for url in visit.requests)
    visit.close()


def test_a_fast_drag_updates_the_address_a_few_times_and_ends_on_the_last_frame(browser, made):
    """Firefox throws on more than about 200 history updates in 10 s; one fast drag must not get near."""
    out, _ = made
    visit = Visit(browser, (out / "m.html").as_uri())
    calls = visit.page.evaluate("""() => {
        let calls = 0;
        const replace = history.replaceState.bind(history);
        history.replaceState = (...args) => { calls += 1; return replace(...args); };
        const slider = document.getElementById("slider");
        for (let k = 0; k < 1000; k++) {
            slider.value = String(k % 9);
            slider.dispatchEvent(new Event("input"));
        }
        slider.value = "5";
        slider.dispatchEvent(new Event("input"));
        return new Promise(done => setTimeout(() => done(calls), 600));
    }""")
    assert visit.shown()[0] == 5 and visit.fragment() == "#frame=5"
    assert 1 <= calls <= 3
    assert visit.errors == []
    visit.close()


def test_on_a_phone_the_frame_and_the_slider_fit_without_sideways_scrolling(browser, made):
    out, _ = made
    visit = Visit(browser, (out / "m.html").as_uri() + "#frame=4", viewport=(390, 844))
    page = visit.page
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert scroll_width <= inner_width == 390
    for selector in ("#frame", "#slider", "#play", "#back", "#count", "#on"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844, selector
        assert box["width"] > 0 and box["height"] > 0
    assert page.locator("#frame").bounding_box()["width"] > 300  # the frame fills the phone's width
    assert visit.errors == []
    visit.close()


def _swipe(cdp, points) -> None:
    """One finger on a touch screen (Chromium's own touch input, as a phone's): down at the first point, moved
    through the others, lifted."""
    for kind, (x, y) in zip(["touchStart"] + ["touchMove"] * (len(points) - 1), points):
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_on_a_touch_phone_a_finger_scrubs_on_the_slider_and_across_the_frame_and_still_scrolls(browser, made):
    """On a 390x844 touch phone a finger moved sideways across the frame (the biggest thing on the screen) was the
    browser's swipe: Chromium went back in the history, off the page. Now it scrubs as the slider does, the
    frame's width spanning every frame, and a finger moved up the frame still scrolls the page."""
    out, _ = made
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                                  device_scale_factor=3)
    page = context.new_page()
    page.goto((out / "m.html").as_uri())  # after about:blank: there is a page to go back to
    cdp = context.new_cdp_session(page)
    assert page.evaluate("[document.documentElement.scrollWidth, innerWidth]") == [390, 390]
    for selector in ("#play", "#slider", "#back", "#on"):  # targets a finger can hit (WCAG 2.5.5: 44 CSS px)
        box = page.locator(selector).bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, (selector, box)
    number = lambda: int(page.evaluate("document.getElementById('count').textContent").split("/")[0])  # noqa: E731
    slider = page.locator("#slider").bounding_box()
    y = slider["y"] + slider["height"] / 2
    _swipe(cdp, [(slider["x"] + slider["width"] * f, y) for f in (0.02, 0.3, 0.6, 0.75)])
    assert number() > STEPS // 2
    frame = page.locator("#frame").bounding_box()
    y = frame["y"] + frame["height"] / 2
    _swipe(cdp, [(frame["x"] + frame["width"] * f, y) for f in (0.9, 0.7, 0.5, 0.4)])  # back by half its width
    assert page.url.startswith("file:"), page.url
    back = number()
    assert abs(back - (round(STEPS * 0.75) - STEPS // 2)) <= 3, back
    page.wait_for_timeout(400)  # the address follows 4 times a second, then catches up
    assert page.evaluate("location.hash") == f"#frame={back}" and shown_frame(page)[0] == back
    _swipe(cdp, [(frame["x"] + frame["width"] * f, y) for f in (0.1, 0.3, 0.5, 0.6)])
    assert number() == back + round(0.5 * (STEPS - 1))
    page.set_viewport_size({"width": 390, "height": 520})  # a page taller than the screen
    page.wait_for_timeout(200)
    frame = page.locator("#frame").bounding_box()
    assert page.evaluate("document.documentElement.scrollHeight > innerHeight")
    _swipe(cdp, [(frame["x"] + 100, frame["y"] + frame["height"] - 10 - k * 40) for k in range(6)])  # up the frame
    page.wait_for_timeout(300)
    assert page.evaluate("scrollY") > 0 and page.evaluate("scrollX") == 0
    context.close()


LONG = 240  # a 240-frame morph: ~1.5 CSS px a frame across a phone's slider or frame


def _hold(cdp, box, ms: int, page) -> None:
    """One finger held on the middle of `box` for `ms`, then lifted (Chromium's own touch input)."""
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    page.wait_for_timeout(ms)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_on_a_touch_phone_the_step_buttons_reach_every_frame_of_a_long_morph_exactly(browser, tmp_path):
    """On a phone a 240-frame morph is ~1.5 CSS px a frame on the slider and the frame, and a phone has no arrow
    keys: no finger could reach one given frame. The one-frame back and on buttons (44 CSS px, named for a screen
    reader) step exactly, stop playback as the slider does, keep #frame=N in step, repeat while held and stop at
    the ends (no wrap); the frame shown is the frame the counter names."""
    frames = _gradients(LONG)
    url = _page_of(tmp_path / "long.html", frames)
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                                  device_scale_factor=3)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    cdp = context.new_cdp_session(page)
    number = lambda: int(page.evaluate("document.getElementById('count').textContent").split("/")[0])  # noqa: E731
    disabled = lambda: page.evaluate(  # noqa: E731
        "['back', 'on'].map(id => document.getElementById(id).getAttribute('aria-disabled'))")
    assert page.evaluate("[document.documentElement.scrollWidth, innerWidth]") == [390, 390]
    for name, selector in (("Previous frame", "#back"), ("Next frame", "#on")):
        button = page.get_by_role("button", name=name, exact=True)
        assert button.count() == 1 and button.evaluate("b => b.id") == selector[1:]
        box = button.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["y"] + box["height"] <= 844, (selector, box)
    assert disabled() == ["true", "false"]
    for _ in range(3):
        page.tap("#on")
    assert number() == 3
    page.wait_for_timeout(400)  # the address follows 4 times a second, then catches up
    assert page.evaluate("location.hash") == "#frame=3" and disabled() == ["false", "false"]
    shown, pixels = shown_frame(page)
    assert shown == 3 and psnr(pixels, frames[3]) >= 35
    assert psnr(pixels, frames[3]) > psnr(pixels, frames[2]) + 3  # that frame, not a neighbour
    page.tap("#back")
    assert number() == 2
    # Playing: a step pauses it, one frame on from where it stood.
    page.tap("#play")
    assert _playing(page)
    page.wait_for_timeout(300)
    page.tap("#on")
    assert not _playing(page)
    stopped = number()
    assert stopped > 3
    page.wait_for_timeout(400)
    assert number() == stopped and page.evaluate("location.hash") == f"#frame={stopped}"
    # Held, a button goes on (after 400 ms, 12 a second) and stops where the finger is lifted.
    _hold(cdp, page.locator("#on").bounding_box(), 1400, page)
    held = number()
    assert held - stopped >= 6, (stopped, held)
    page.wait_for_timeout(400)
    assert number() == held and page.evaluate("location.hash") == f"#frame={held}"  # no step after the lift
    # The ends: the last frame stops a held button and a tap; no wrap to frame 0.
    page.evaluate(f"location.hash = '#frame={LONG - 3}'")
    page.wait_for_timeout(100)
    _hold(cdp, page.locator("#on").bounding_box(), 1000, page)
    assert number() == LONG - 1 and disabled() == ["false", "true"]
    page.tap("#on", force=True)  # Playwright waits for an aria-disabled button to be enabled; a finger does not
    assert number() == LONG - 1
    page.tap("#back")
    assert number() == LONG - 2
    page.evaluate("location.hash = '#frame=1'")
    page.wait_for_timeout(100)
    page.tap("#back")
    page.tap("#back", force=True)
    assert number() == 0 and disabled() == ["true", "false"]
    assert page.url.startswith("file:") and errors == []
    context.close()


def test_the_keyboard_reaches_the_step_buttons_and_a_mouse_held_on_one_repeats(browser, tmp_path):
    """Tab goes play, slider, back, on; Enter or Space on a step button steps (Space is that button's click,
    not play); at an end the button keeps the focus (aria-disabled, not disabled); a held mouse button repeats."""
    url = _page_of(tmp_path / "long.html", _gradients(LONG))
    visit = Visit(browser, url + "#frame=10", viewport=(800, 700))
    page = visit.page
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    assert order == ["play", "slider", "back", "on"]
    assert _focus_ring(page, "#on") > 50
    page.keyboard.press("Enter")
    assert visit.number() == 11 and visit.fragment("#frame=11") == "#frame=11"
    page.keyboard.press(" ")
    assert visit.number() == 12 and not _playing(page)
    page.keyboard.press("Shift+Tab")
    page.keyboard.press(" ")
    assert visit.number() == 11 and not _playing(page)
    # Said: the counter is read out while the buttons step (a screen reader on a button hears the frame), and
    # not while the slider or play moves it (the slider says it; ~30 a second while playing would be noise).
    assert page.eval_on_selector("#count", "c => c.getAttribute('aria-live')") == "polite"
    page.keyboard.press("k")
    assert _playing(page) and page.eval_on_selector("#count", "c => c.getAttribute('aria-live')") == "off"
    page.keyboard.press("k")
    page.keyboard.press("Home")
    page.focus("#back")
    page.keyboard.press("Enter")
    assert visit.number() == 0 and page.evaluate("document.activeElement.id") == "back"
    assert page.eval_on_selector("#back", "b => [b.disabled, b.getAttribute('aria-disabled')]") == [False, "true"]
    box = page.locator("#on").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(1200)
    page.mouse.up()
    held = visit.number()
    assert held >= 5, held
    page.wait_for_timeout(300)
    assert visit.number() == held and visit.fragment(f"#frame={held}") == f"#frame={held}"
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a click: one step
    assert visit.number() == held + 1
    assert visit.errors == []
    visit.close()


def test_the_counter_falls_silent_as_play_starts_not_at_its_first_frame(browser, tmp_path):
    """A step button makes the counter a polite live region; play makes it silent. That waited for play's first
    animation frame, so a page that already said "Pause" still had the counter read out (and the keyboard test
    above failed in CI when the frame came late). Animation frames held back here: the press alone must do it."""
    url = _page_of(tmp_path / "long.html", _gradients(LONG))
    visit = Visit(browser, url + "#frame=10", viewport=(800, 700))
    page = visit.page
    page.focus("#on")
    page.keyboard.press("Enter")
    assert visit.number() == 11
    assert page.eval_on_selector("#count", "c => c.getAttribute('aria-live')") == "polite"
    page.evaluate("window.requestAnimationFrame = function () { return 0; }")  # no frame ticks from here on
    page.keyboard.press("k")
    assert _playing(page) and page.eval_on_selector("#count", "c => c.getAttribute('aria-live')") == "off"
    assert visit.errors == []
    visit.close()


def test_the_tab_does_not_keep_every_frame_it_showed_decoded(browser, tmp_path):
    """An <img> given each frame's data: URL in turn left the decoded frames in Chromium's image caches, 4 MB a
    frame at 1024 px: a 240-frame morph, every frame shown, peaked at 900 MB in its tab. The player decodes each
    frame into one canvas and frees it, so showing 50 more frames leaves the tab's peak near where it was."""
    from tests.browser import OFFLINE_ARGS, browser_env, chromium, chromium_processes, peak_mb

    frames = _gradients(60, 1024, 1024)
    url = _page_of(tmp_path / "big.html", frames)
    marker = f"--interp-test={tmp_path.name}"  # this test's Chromium, not the suite's or another run's
    own = browser.browser_type.launch(executable_path=chromium(), args=[*OFFLINE_ARGS, marker], env=browser_env())
    try:
        page = own.new_page(viewport={"width": 1280, "height": 1100}, device_scale_factor=1)
        page.goto(url)
        page.keyboard.press("End")  # the last frame and the first ten: the tab's decoders and canvas are warm
        page.keyboard.press("Home")
        for number in range(1, 10):
            page.keyboard.press("ArrowRight")
            assert shown_frame(page)[0] == number
        renderers = chromium_processes("renderer", marker)
        assert renderers, "no renderer of this test's Chromium found"
        warm = peak_mb(renderers)
        for number in range(10, 60):
            page.keyboard.press("ArrowRight")
            shown, pixels = shown_frame(page)
            assert shown == number and psnr(pixels, frames[number]) >= 35
        grown = peak_mb(chromium_processes("renderer", marker)) - warm
        assert grown < 50, f"the tab's peak grew {grown:.0f} MB over 50 frames of 4 MB decoded"
    finally:
        own.close()


def test_a_printed_page_is_dark_text_on_paper_with_the_frame_shown_and_no_controls(browser, made):
    """Printed (print preview, paper, no background graphics: the browsers' default), the page's light grey
    text was drawn on white paper (1.2:1 for the title), and a play button, a slider and the keys' help were
    printed. Now its text is dark (7:1 and more on white), and the frame, its number and the inputs are what
    is printed."""
    out, _ = made
    page = browser.new_page(viewport={"width": 800, "height": 1000}, device_scale_factor=1)
    page.goto((out / "m.html").as_uri() + "#frame=30")
    page.emulate_media(media="print")
    seen = page.evaluate("""() => {
        const style = s => getComputedStyle(document.querySelector(s));
        return {texts: ["body", "h1", "h1 small", "#count", ".name", ".like"].map(s => [s, style(s).color]),
                hidden: ["#play", "#slider", "#back", "#on", ".help"].map(s => style(s).display),
                shown: ["#frame", "#count", ".inputs"].map(s => style(s).display)};
    }""")
    for selector, colour in seen["texts"]:
        assert _contrast(colour, "rgb(255, 255, 255)") >= 7, (selector, colour)
    assert seen["hidden"] == ["none"] * 5 and "none" not in seen["shown"], seen
    assert page.locator("#count").inner_text() == f"30 / {STEPS - 1}" and shown_frame(page)[0] == 30
    pdf = page.pdf()
    assert pdf[:5] == b"%PDF-"  # and Chromium prints it: with the frame shown (the player's canvas), not frame 0
    written = frames_dir(out / "frames")
    printed = [image for image in _pdf_images(pdf) if image.shape == written[30].shape]
    assert any(psnr(image, written[30]) >= 30 > psnr(image, written[0]) for image in printed), len(printed)
    page.close()


def _pdf_images(pdf: bytes) -> list[np.ndarray]:
    """The RGB images a PDF of Chromium's holds: its 8-bit image XObjects, Flate (a canvas) or DCT (a JPEG)."""
    images = []
    for found in re.finditer(rb"<<([^<>]*?/Subtype /Image[^<>]*?)>>\s*stream\r?\n", pdf):
        fields = dict(re.findall(rb"/(Width|Height|Length|Filter) /?(\w+)", found.group(1)))
        data = pdf[found.end():found.end() + int(fields[b"Length"])]
        if fields.get(b"Filter") == b"DCTDecode":
            images.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        elif fields.get(b"Filter") == b"FlateDecode":
            raw = np.frombuffer(zlib.decompress(data), np.uint8)
            width, height = int(fields[b"Width"]), int(fields[b"Height"])
            if raw.size == width * height * 3:
                images.append(raw.reshape(height, width, 3))
    return images


def test_the_inputs_crops_are_sharp_on_a_3x_phone_screen(browser, tmp_path):
    # A crop is drawn 64 CSS px wide: a 3x phone draws it on 192 device pixels, so a 192 px crop must keep
    # them all (128 px ones were stretched 1.5x, soft). A smaller crop is kept as it is, never enlarged.
    about = page_about(["a.png", "b.png"], [np.zeros((256, 256, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)])
    url = _page_of(tmp_path / "m.html", _gradients(2), about=about)
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3)
    page = context.new_page()
    page.goto(url)
    shown = page.eval_on_selector_all(".input img", "all => all.map(i => [i.naturalWidth, "
                                                    "i.getBoundingClientRect().width * devicePixelRatio])")
    assert shown[0] == [192, 192] and shown[1] == [64, 192], shown
    context.close()


# --- in a real headless Firefox (Marionette, tests/firefox.py) ----------------------------------------------


@pytest.fixture(scope="module")
def gecko():
    executable = firefox()
    if executable is None:
        pytest.skip("no Firefox on PATH (apt-get install firefox-esr)")
    launched = Firefox(executable)
    yield launched
    launched.close()


def _firefox_number_and_fragment(gecko, expected: int) -> tuple[int, str]:
    """The shown frame number, and the fragment once it reads #frame=expected (written at most 4 times a
    second; up to 2 s)."""
    for _ in range(40):
        number, fragment = gecko.run(
            "return [document.getElementById('count').textContent, location.hash];")
        if fragment == f"#frame={expected}":
            break
        time.sleep(0.05)
    return int(number.split("/")[0]), fragment


def test_firefox_opens_at_the_fragments_frame_follows_the_keys_and_uses_no_network(gecko, made):
    out, summary = made
    written = frames_dir(out / "frames")
    url = (out / "m.html").as_uri()
    for number in (0, STEPS // 2, STEPS - 1):
        gecko.navigate("about:blank")  # a fresh load each time, not a same-page fragment change
        gecko.navigate(f"{url}#frame={number}")
        shown_number, pixels = shown_frame(gecko)  # the canvas of a data: image is not tainted from file://
        assert shown_number == number
        assert psnr(pixels, written[number]) >= 35, number
        assert gecko.run("return document.getElementById('like0').textContent;").startswith(
            f"{summary['reconstruction'][0]['psnr']:.1f} dB")
    # The keys, with the slider focused (a user who tabbed to it) and then with nothing focused.
    gecko.navigate("about:blank")
    gecko.navigate(url)
    gecko.run("document.getElementById('slider').focus();")
    steps = [("ArrowRight", 1), ("ArrowRight", 2), ("End", STEPS - 1), ("ArrowLeft", STEPS - 2), ("Home", 0)]
    for key, expected in steps:
        gecko.press(key)
        assert _firefox_number_and_fragment(gecko, expected) == (expected, f"#frame={expected}"), key
        assert gecko.run("return document.getElementById('slider').value;") == str(expected)  # moved once
    gecko.run("document.activeElement.blur();")
    gecko.press("End")
    assert _firefox_number_and_fragment(gecko, STEPS - 1) == (STEPS - 1, f"#frame={STEPS - 1}")
    assert psnr(shown_frame(gecko)[1], written[-1]) >= 35
    # Every http(s) request would go to a dead proxy; none was even tried.
    loaded = gecko.run("return performance.getEntriesByType('resource').map(e => e.name);")
    assert not [name for name in loaded if not name.startswith(("data:", "file:"))], loaded


def test_firefox_steps_one_frame_by_tap_and_by_keyboard_and_repeats_while_a_finger_holds(gecko, tmp_path):
    url = _page_of(tmp_path / "long.html", _gradients(LONG))
    gecko.navigate("about:blank")
    gecko.navigate(url + "#frame=5")

    def centre(selector: str) -> tuple[float, float]:
        return tuple(gecko.run(f"const r = document.querySelector('{selector}').getBoundingClientRect(); "
                               "return [r.left + r.width / 2, r.top + r.height / 2];"))

    gecko.touch(*centre("#on"))
    gecko.touch(*centre("#on"))
    gecko.touch(*centre("#back"))
    assert _firefox_number_and_fragment(gecko, 6) == (6, "#frame=6")
    gecko.run("document.getElementById('play').focus();")
    gecko.press("Tab")
    gecko.press("Tab")
    assert gecko.run("return document.activeElement.id;") == "back"
    gecko.press(" ")  # the focused button's click: a step back, not play
    assert _firefox_number_and_fragment(gecko, 5) == (5, "#frame=5")
    assert gecko.run("return document.getElementById('play').getAttribute('aria-label');") == "Play"
    gecko.touch(*centre("#on"), hold_ms=1400)  # held: on after 400 ms, 12 a second; no step once lifted
    held = int(gecko.run("return document.getElementById('count').textContent;").split("/")[0])
    assert held - 5 >= 6, held
    time.sleep(0.4)
    assert _firefox_number_and_fragment(gecko, held) == (held, f"#frame={held}")


# --- big pages, short screens, keys and assistive technology (in Chromium) ----------------------------------


def _page_of(path: Path, frames, **options) -> str:
    with open_writer(path, **options) as writer:
        for frame in frames:
            writer.write(frame)
    return path.as_uri()


def test_a_page_of_many_frame_chunks_loads_and_shows_every_frame(browser, tmp_path, monkeypatch):
    # A page of 520 frames at 1024 px (599 MB) opened blank: its one array literal passed V8's longest string.
    # Frames now come in chunks, one <script> each; small chunks here prove the layout without 600 MB.
    import interp_cli.page as page

    monkeypatch.setattr(page, "CHUNK_ENTRIES", 3)
    frames = _gradients(5)
    sequence = [frames[0], frames[1], frames[2], frames[0], frames[3], frames[1], frames[4]]  # repeats of 0 and 1
    url = _page_of(tmp_path / "m.html", sequence)
    text = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert text.count("FRAMES.push(") == 3 and "var FRAMES = [];" in text
    visit = Visit(browser, url)
    for number, want in enumerate(sequence):
        if number:
            visit.page.keyboard.press("ArrowRight")
        shown_number, pixels = visit.shown()
        assert shown_number == number and psnr(pixels, want) >= 35, number
    assert visit.page.evaluate("() => document.getElementById('slider').max") == str(len(sequence) - 1)
    assert visit.errors == []
    visit.close()


def test_a_page_over_the_slow_size_is_written_with_one_warning_naming_it(tmp_path, monkeypatch):
    import interp_cli.page as page

    monkeypatch.setattr(page, "SLOW_PAGE_BYTES", 10_000)
    result = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 3, "-o", tmp_path / "m.html")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {tmp_path / 'm.html'}: the page is"), result.stderr
    assert "over 0.01 MB" in warnings[0]
    assert len(page_frames(tmp_path / "m.html")) == 3  # written all the same
    monkeypatch.setattr(page, "SLOW_PAGE_BYTES", 200_000_000)
    quiet = run(DEMO_A, DEMO_B, "--weights", "demo", "--steps", 3, "-o", tmp_path / "n.html")
    assert quiet.exit_code == 0 and "the page is" not in quiet.stderr


def _in_view(page, viewport) -> dict:
    boxes = {s: page.locator(s).bounding_box() for s in ("#frame", "#slider", "#play", "#back", "#on")}
    for selector, box in boxes.items():
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport[0] + 0.5, (selector, viewport, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= viewport[1] + 0.5, (selector, viewport, box)
    assert boxes["#frame"]["y"] + boxes["#frame"]["height"] <= boxes["#slider"]["y"]
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport[0]
    return boxes


def test_on_short_screens_the_frame_and_the_slider_are_both_in_view(browser, made, tmp_path):
    # A landscape phone, and a 1366x768 laptop at 200 % zoom (683x330 CSS px): the slider was below the fold.
    out, _ = made
    tall = _page_of(tmp_path / "tall.html", _gradients(2, 1200, 626))  # a --paste page of a portrait photo
    for url in ((out / "m.html").as_uri(), tall):
        for viewport in ((844, 390), (683, 330)):
            visit = Visit(browser, url, viewport=viewport)
            boxes = _in_view(visit.page, viewport)
            assert boxes["#frame"]["height"] >= 150, (url, viewport, boxes)  # still a frame to look at
            assert boxes["#slider"]["width"] >= 150, (url, viewport, boxes)
            visit.close()
    # The portrait phone and the desktop keep their layouts: the frame the phone's width, 512 px on a desktop.
    phone = Visit(browser, (out / "m.html").as_uri(), viewport=(390, 844))
    assert _in_view(phone.page, (390, 844))["#frame"]["width"] >= 360
    phone.close()
    desktop = Visit(browser, (out / "m.html").as_uri(), viewport=(1920, 1080))
    assert _in_view(desktop.page, (1920, 1080))["#frame"]["width"] == 512
    desktop.close()


def test_the_slider_track_keeps_its_width_while_the_counter_grows(browser, tmp_path):
    url = _page_of(tmp_path / "m.html", [_gradients(1, 8, 8)[0]] * 1200)  # 1200 entries, one stored frame
    visit = Visit(browser, url)
    widths = set()
    for number in (0, 7, 42, 999, 1000, 1199):
        visit.page.evaluate(f"location.hash = '#frame={number}'")
        visit.wait_for(lambda shown, number=number: shown == number)
        widths.add(round(visit.page.locator("#slider").bounding_box()["width"], 2))
        fits = visit.page.eval_on_selector("#count", "c => c.scrollWidth <= c.clientWidth")
        assert fits, number
    assert len(widths) == 1, widths
    visit.close()


def _playing(page) -> bool:
    """Whether the page says it plays (its button then offers to pause)."""
    return page.eval_on_selector("#play", "b => b.getAttribute('aria-label')") == "Pause"


def test_holding_space_or_k_plays_or_pauses_once(browser, made):
    out, _ = made
    visit = Visit(browser, (out / "m.html").as_uri())
    page = visit.page
    for key, want in ((" ", True), ("k", False), ("k", True), (" ", False)):
        for _ in range(6):  # the first keydown, then five auto-repeats (Playwright sets event.repeat)
            page.keyboard.down(key)
        page.keyboard.up(key)
        assert _playing(page) == want, key
    assert visit.errors == []
    visit.close()


def test_k_pauses_what_a_click_on_the_play_button_started(browser, made):
    # A click leaves the focus on the button; K, which the help line offers beside Space, was ignored there.
    out, _ = made
    visit = Visit(browser, (out / "m.html").as_uri())
    page = visit.page
    page.click("#play")
    assert page.evaluate("document.activeElement.id") == "play" and _playing(page)
    page.keyboard.press("k")
    assert not _playing(page)
    page.keyboard.press("K")
    assert _playing(page)
    page.keyboard.press(" ")  # the button's own click, once (not also the page's toggle, which would undo it)
    assert not _playing(page)
    assert visit.errors == []
    visit.close()


def test_up_down_and_page_keys_scroll_the_page_unless_the_slider_has_focus(browser, made):
    out, _ = made
    visit = Visit(browser, (out / "m.html").as_uri() + "#frame=5", viewport=(683, 330))
    page = visit.page
    assert page.evaluate("document.documentElement.scrollHeight > innerHeight")  # the inputs' cards are below

    def settled() -> int:  # scrollY once a smooth scroll has come to rest
        last = None
        for _ in range(30):
            y = page.evaluate("scrollY")
            if y == last:
                break
            last = y
            page.wait_for_timeout(100)
        return y

    page.keyboard.press("PageDown")
    down = settled()
    assert down > 0 and visit.shown()[0] == 5
    page.keyboard.press("ArrowUp")
    assert settled() < down and visit.shown()[0] == 5
    page.evaluate("scrollTo(0, 0)")
    page.keyboard.press("ArrowDown")
    assert settled() > 0 and visit.shown()[0] == 5
    page.evaluate("scrollTo(0, 0)")
    # The focused slider takes them itself, one step each.
    page.focus("#slider")
    page.keyboard.press("ArrowUp")
    assert visit.shown()[0] == 6 and page.eval_on_selector("#slider", "s => s.value") == "6"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert visit.shown()[0] == 4 and page.eval_on_selector("#slider", "s => s.value") == "4"
    # The page's own keys still work, and the help line says what they do.
    page.keyboard.press("End")
    assert visit.shown()[0] == STEPS - 1
    help_line = " ".join(page.locator(".help").inner_text().split())
    for words in ("\u2190 \u2192 one frame", "Home and End", "Space or K play and pause", "scroll the page"):
        assert words in help_line, help_line
    assert visit.errors == []
    visit.close()


def test_screen_readers_hear_the_slider_not_a_live_counter_and_forced_colors_keep_the_play_button(browser, made):
    out, _ = made
    visit = Visit(browser, (out / "m.html").as_uri() + "#frame=12")
    page = visit.page
    cdp = page.context.new_cdp_session(page)
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    count = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#count"})["nodeId"]
    node = cdp.send("Accessibility.getPartialAXTree", {"nodeId": count, "fetchRelatives": False})["nodes"][0]
    live = {p["name"]: p["value"].get("value") for p in node.get("properties", [])}.get("live", "off")
    assert live == "off", node  # an <output> is a polite live region: read out ~30 times a second while playing
    # (Chromium's DevTools tree leaves aria-valuetext out of a range input's properties: the attribute is read.)
    assert page.eval_on_selector("#slider", "s => s.getAttribute('aria-valuetext')") == f"frame 12 of {STEPS - 1}"
    page.keyboard.press("ArrowRight")
    assert page.eval_on_selector("#slider", "s => s.getAttribute('aria-valuetext')") == f"frame 13 of {STEPS - 1}"
    visit.close()
    # Forced colors (Windows high contrast) drop the button's fill: its edge must still be drawn.
    forced = browser.new_page(forced_colors="active", viewport={"width": 800, "height": 600})
    forced.goto((out / "m.html").as_uri())
    for selector in ("#play", "#back", "#on"):
        box = forced.locator(selector).bounding_box()
        shot = np.asarray(Image.open(io.BytesIO(forced.screenshot(clip=box))).convert("RGB")).astype(int)
        canvas = shot[0, 0]  # a corner, outside the round button
        ring = shot[shot.shape[0] // 2, :4]  # the left edge of the circle, at mid-height
        assert np.abs(ring - canvas).sum(axis=1).max() > 100, (selector, ring, canvas)
    forced.close()


# Every aria-valuetext the slider is given from now on, and every frame number the counter shows.
_WATCH = """() => {
    const slider = document.getElementById("slider"), count = document.getElementById("count");
    window.said = []; window.counted = []; window.thumb = [];
    new MutationObserver(() => window.said.push(slider.getAttribute("aria-valuetext")))
        .observe(slider, {attributes: true, attributeFilter: ["aria-valuetext"]});
    new MutationObserver(() => { window.counted.push(count.textContent); window.thumb.push(slider.value); })
        .observe(count, {childList: true, characterData: true, subtree: true});
}"""


def test_while_playing_a_screen_reader_is_not_handed_a_new_frame_30_times_a_second(browser, made):
    """The slider's aria-valuetext changed with every frame played (~30 a second), each one a change a screen
    reader focused on the slider may read out. It says "playing" once as play starts, and the frame once
    paused; the counter and the thumb still follow every frame."""
    out, _ = made
    visit = Visit(browser, (out / "m.html").as_uri() + "#frame=12")
    page = visit.page
    page.focus("#slider")
    page.evaluate(_WATCH)
    page.keyboard.press("k")
    assert _playing(page)
    page.wait_for_timeout(1000)  # ~30 frames
    page.keyboard.press("k")
    assert not _playing(page)
    said, counted, thumb = page.evaluate("[window.said, window.counted, window.thumb]")
    shown = visit.number()
    assert len(set(counted)) >= 10 and thumb == [c.split(" / ")[0] for c in counted]  # the counter and thumb moved
    assert said == ["playing", f"frame {shown} of {STEPS - 1}"], said
    assert page.eval_on_selector("#slider", "s => [s.value, s.getAttribute('aria-valuetext')]") == [
        str(shown), f"frame {shown} of {STEPS - 1}"]
    page.keyboard.press("ArrowRight")  # a key moves it, still: said at once
    assert page.eval_on_selector("#slider", "s => s.getAttribute('aria-valuetext')") == \
        f"frame {min(shown + 1, STEPS - 1)} of {STEPS - 1}"
    assert visit.errors == []
    visit.close()


# The page's text colours and backgrounds as the browser computed them, and whether the page scrolls.
_SCHEME = """() => {
    const style = selector => getComputedStyle(document.querySelector(selector));
    const texts = ["h1", "h1 small", "#count", ".name", ".like", ".help"].map(s => [s, style(s).color]);
    return {scheme: style("html").colorScheme, slider: style("#slider").colorScheme,
            background: style("body").backgroundColor, play: style("#play").backgroundColor, texts,
            scrolls: document.documentElement.clientWidth < window.innerWidth};
}"""


def _luminance(css: str) -> float:
    """WCAG's relative luminance of a computed `rgb(r, g, b)` colour."""
    channels = np.array([int(v) for v in re.findall(r"\d+", css)[:3]]) / 255
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return float(linear @ [0.2126, 0.7152, 0.0722])


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_page_and_the_browsers_own_parts_are_dark_in_either_colour_scheme(browser, made):
    """The page draws itself dark but declared no color-scheme, so the browser drew its own parts for a light
    page: a white scrollbar down the side of the dark page wherever it scrolls (a short window, a phone held
    sideways), in a light and a dark scheme alike. Now it says it is dark (a viewer's dark, in either scheme),
    and its text keeps WCAG AAA contrast (7:1; the small grey print was 4.5 to 6.6:1, AA only), the play button
    3:1, in both."""
    from tests.browser import OFFLINE_ARGS, browser_env, chromium

    out, _ = made
    # Playwright hides scrollbars in headless Chromium: this one draws them, as a window does.
    drawn = browser.browser_type.launch(executable_path=chromium(), args=OFFLINE_ARGS, env=browser_env(),
                                        ignore_default_args=["--hide-scrollbars"])
    try:
        for scheme in ("light", "dark"):
            page = drawn.new_page(color_scheme=scheme, viewport={"width": 600, "height": 400}, device_scale_factor=1)
            page.goto((out / "m.html").as_uri())
            seen = page.evaluate(_SCHEME)
            assert (seen["scheme"], seen["slider"]) == ("dark", "dark"), (scheme, seen)
            assert _luminance(seen["background"]) < 0.02, (scheme, seen)
            for selector, colour in seen["texts"]:
                assert _contrast(colour, seen["background"]) >= 7, (scheme, selector, colour)
            assert _contrast(seen["play"], seen["background"]) >= 3, (scheme, seen)
            assert seen["scrolls"], "the page should scroll in this window, to draw a scrollbar"
            shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("L"))
            # The scrollbar's column, its thumb and its track: the track was white (252) beside the thumb.
            white = (shot[:, -4] >= 240).mean()
            assert white < 0.05, (scheme, white)
            page.close()
    finally:
        drawn.close()


def test_without_javascript_the_page_shows_the_first_frame_and_says_why(browser, made):
    out, _ = made
    written = frames_dir(out / "frames")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto((out / "m.html").as_uri() + "#frame=7")
    assert page.locator(".nojs").is_visible() and "needs JavaScript" in page.locator(".nojs").inner_text()
    assert not page.locator("#slider").is_visible()  # no controls that cannot work
    shown = page.locator("#frame").screenshot()  # drawn at 512 CSS px: the 64 px frame 0, scaled
    pixels = np.asarray(Image.open(io.BytesIO(shown)).convert("RGB").resize((64, 64), Image.Resampling.BOX))
    assert psnr(pixels, written[0]) >= 25 and psnr(pixels, written[0]) > psnr(pixels, written[-1]) + 3
    context.close()


# --- keyboard only, reduced motion, zoom and a larger default font ------------------------------------------


def _focus_ring(page, selector: str) -> int:
    """How many pixels just outside an element's box (up to 6 px out) are the page's focus blue, #6aa7ff."""
    box = page.locator(selector).bounding_box()
    clip = {"x": box["x"] - 6, "y": box["y"] - 6, "width": box["width"] + 12, "height": box["height"] + 12}
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB")).astype(int)
    outside = np.ones(shot.shape[:2], bool)
    outside[6:-6, 6:-6] = False
    return int((outside & (np.abs(shot - [106, 167, 255]).sum(axis=-1) < 60)).sum())


def test_the_keyboard_alone_reaches_the_play_button_and_the_slider_sees_the_focus_and_drives_both(browser, made):
    out, _ = made
    visit = Visit(browser, (out / "m.html").as_uri(), viewport=(800, 600))
    page = visit.page

    def state() -> tuple[int, str, str]:
        return visit.number(), page.eval_on_selector("#slider", "s => s.value"), page.eval_on_selector(
            "#slider", "s => s.getAttribute('aria-valuetext')")

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "play"
    assert _focus_ring(page, "#play") > 50
    page.keyboard.press(" ")  # the focused button's own click
    assert _playing(page)
    page.keyboard.press(" ")
    assert not _playing(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "slider"
    assert _focus_ring(page, "#slider") > 200 and _focus_ring(page, "#play") == 0  # the ring moved with the focus
    page.keyboard.press("Home")
    assert state() == (0, "0", f"frame 0 of {STEPS - 1}")
    expected = 0
    for key, direction in (("ArrowRight", 1), ("ArrowUp", 1), ("PageUp", 1), ("PageDown", -1), ("ArrowDown", -1),
                           ("ArrowLeft", -1), ("End", 1), ("PageDown", -1), ("Home", -1)):
        page.keyboard.press(key)
        number = state()[0]
        assert (number - expected) * direction > 0, (key, expected, number)  # moved, and the right way
        assert state() == (number, str(number), f"frame {number} of {STEPS - 1}"), key  # one place, said aloud
        expected = number
    assert expected == 0
    page.keyboard.press(" ")  # Space on the slider plays, and pauses
    assert _playing(page)
    page.keyboard.press(" ")
    assert not _playing(page) and page.evaluate("document.activeElement.id") == "slider"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "play"
    assert visit.errors == []
    visit.close()


def test_a_reader_who_asks_for_reduced_motion_gets_no_animation_until_they_press_play(browser, made):
    out, _ = made
    context = browser.new_context(reduced_motion="reduce", viewport={"width": 800, "height": 600})
    page = context.new_page()
    page.goto((out / "m.html").as_uri() + "#frame=3")
    assert page.evaluate("matchMedia('(prefers-reduced-motion: reduce)').matches")
    page.wait_for_timeout(700)  # 21 frames' time at 30 fps
    assert shown_frame(page)[0] == 3 and not _playing(page)
    page.click("#play")  # their own choice: it plays
    for _ in range(100):
        if shown_frame(page)[0] != 3:
            break
        page.wait_for_timeout(50)
    assert shown_frame(page)[0] != 3 and _playing(page)
    context.close()


def _fits_across(page, width: int) -> None:
    """No sideways scroll; the controls, the title and every name whole inside the window's width."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in ("#play", "#slider", "#back", "#count", "#on", "h1", ".name", ".like", ".help"):
        for box in page.eval_on_selector_all(selector, "all => all.map(e => { const r = e.getBoundingClientRect(); "
                                                       "return [r.left, r.right, e.scrollWidth - e.clientWidth]; })"):
            assert box[0] >= 0 and box[1] <= width + 0.5 and box[2] <= 0, (selector, width, box)


def test_at_320_px_and_at_200_percent_zoom_nothing_is_cut_off_or_scrolls_sideways(browser, tmp_path):
    # WCAG's reflow width (a 1280 px window at 400 %) and a 1280x800 window at 200 %, with the longest counter
    # and names that do not break at spaces.
    long = "a_photo_with_a_name_that_goes_on_and_on_without_a_space_to_break_at_2026.png"
    about = page_about([long, "b.png"], [np.zeros((64, 64, 3), np.uint8)] * 2)
    url = _page_of(tmp_path / "m.html", [_gradients(1, 8, 8)[0]] * 1200, about=about)
    for width, height, scale in ((320, 640, 1), (640, 400, 2)):
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale)
        page = context.new_page()
        page.goto(url + "#frame=1199")
        assert page.locator("#count").inner_text() == "1199 / 1199"
        _fits_across(page, width)
        box = page.locator("#slider").bounding_box()
        assert box["width"] >= 100 and box["y"] + box["height"] <= height, (width, box)  # still a slider to drag
        context.close()


def test_a_larger_default_font_enlarges_the_text_and_the_controls_stay_in_view(browser, made):
    """A reader who sets the browser's font size (Chromium's Settings, Appearance, Font size) got the page's
    text at its fixed px sizes, unchanged; now it follows, and at 320 px wide nothing is cut off."""
    out, _ = made
    sizes = {}
    for standard, width in ((16, 1280), (32, 1280), (32, 320)):
        page = browser.new_page(viewport={"width": width, "height": 800}, device_scale_factor=1)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Page.setFontSizes", {"fontSizes": {"standard": standard, "fixed": 13}})
        page.goto((out / "m.html").as_uri())
        sizes[standard, width] = page.evaluate(
            "['body', 'h1', '.like', '.help'].map(s => "
            "parseFloat(getComputedStyle(document.querySelector(s)).fontSize))")
        _fits_across(page, width)
        _in_view(page, (width, 800))
        page.close()
    assert sizes[16, 1280] == [15, 16, 13, 12]  # the usual default: the sizes as they were
    assert sizes[32, 1280] == [30, 32, 26, 24] == sizes[32, 320]


def test_firefox_with_reduced_motion_and_a_larger_font_keeps_still_and_the_keyboard_drives_it(made):
    """Debian's Firefox, as a reader set it up: reduced motion, a 32 px default font, a narrow window (500 px, its
    headless minimum), the keyboard only."""
    executable = firefox()
    if executable is None:
        pytest.skip("no Firefox on PATH (apt-get install firefox-esr)")
    out, _ = made
    gecko = Firefox(executable, width=500, height=800,
                    prefs={"ui.prefersReducedMotion": 1, "font.size.variable.x-western": 32})
    try:
        gecko.navigate((out / "m.html").as_uri())
        time.sleep(0.7)  # 21 frames' time at 30 fps
        seen = gecko.run("""const style = s => getComputedStyle(document.querySelector(s));
            return [matchMedia('(prefers-reduced-motion: reduce)').matches,
                    document.getElementById('count').textContent,
                    document.getElementById('play').getAttribute('aria-label'), parseFloat(style('.help').fontSize),
                    parseFloat(style('h1').fontSize), document.documentElement.scrollWidth, innerWidth];""")
        assert seen[:5] == [True, "0 / 59", "Play", 24, 32], seen  # still; the text follows the reader's font
        assert seen[5] <= seen[6], seen  # no sideways scroll

        def focused() -> list:
            return gecko.run("const a = document.activeElement; return [a.id, a.matches(':focus-visible'), "
                             "getComputedStyle(a).outlineStyle, getComputedStyle(a).outlineColor];")

        gecko.press("Tab")
        assert focused() == ["play", True, "solid", "rgb(106, 167, 255)"]
        gecko.press("Tab")
        assert focused() == ["slider", True, "solid", "rgb(106, 167, 255)"]
        expected = 0
        for key, direction in (("PageUp", 1), ("ArrowUp", 1), ("End", 1), ("PageDown", -1), ("ArrowDown", -1),
                               ("Home", -1)):
            gecko.press(key)
            number, value, said = gecko.run("const s = document.getElementById('slider'); return ["
                                            "document.getElementById('count').textContent, s.value, "
                                            "s.getAttribute('aria-valuetext')];")
            number = int(number.split("/")[0])
            assert (number - expected) * direction > 0 and value == str(number), (key, expected, number, value)
            assert said == f"frame {number} of {STEPS - 1}", said
            expected = number
        gecko.press(" ")
        assert gecko.run("return document.getElementById('play').getAttribute('aria-label');") == "Pause"
        gecko.press(" ")
        assert gecko.run("return document.getElementById('play').getAttribute('aria-label');") == "Play"
    finally:
        gecko.close()
