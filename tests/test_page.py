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
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import interp_cli.align as align
from interp_cli.cli import cli
from interp_cli.likeness import psnr
from interp_cli.page import encode_jpeg, jpeg_quality, page_about
from interp_cli.write import open_writer
from tests.browser import OFFLINE_ARGS, chromium, shown_frame
from tests.cli_runner import cli_runner
from tests.firefox import Firefox, firefox

ROOT = Path(__file__).resolve().parents[1]
DEMO_A, DEMO_B = ROOT / "examples" / "demo_a.png", ROOT / "examples" / "demo_b.png"
FACES = ROOT / "tests" / "data" / "faces"
STEPS = 60  # the default: the size goal is stated for it


def run(*args):
    return cli_runner().invoke(cli, [str(a) for a in args])


def page_frames(path: Path) -> list[np.ndarray]:
    """The frames a page embeds, decoded by Pillow, in order (an index entry repeats an earlier frame)."""
    text = path.read_text(encoding="utf-8")
    header = re.search(r'^var HEADER = "([^"]*)";$', text, re.M).group(1)
    body = text[text.index("var FRAMES = [\n") + len("var FRAMES = [\n"): text.index("];\n</script>")]
    entries = [json.loads(line.rstrip(",")) for line in body.splitlines()]
    decoded = []
    for entry in entries:
        if isinstance(entry, int):
            assert entry < len(decoded) and isinstance(entries[entry], str)  # points back at a real frame
            decoded.append(decoded[entry])
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
    assert len(crops) == 1 and Image.open(io.BytesIO(base64.b64decode(crops[0]))).size == (128, 128)


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


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium on PATH (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=OFFLINE_ARGS)
        yield launched
        launched.close()


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
    for selector in ("#frame", "#slider", "#play", "#count"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844, selector
        assert box["width"] > 0 and box["height"] > 0
    assert page.locator("#frame").bounding_box()["width"] > 300  # the frame fills the phone's width
    assert visit.errors == []
    visit.close()


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
