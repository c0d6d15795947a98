"""interp_cli/kept_photos.py: a --paste morph decodes each photo once, and its frames are those of a photo decoded
again (as before), whatever the photo's orientation and colour profile, and wherever the temp folder has no room."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

import interp_cli.align as align
from interp_cli import images
from interp_cli.cli import cli
from tests.cli_runner import cli_runner
from tests.icc import cmyk_profile, rgb_profile

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "data" / "faces"
OBAMA, BIDEN = FACES / "obama.jpg", FACES / "biden.jpg"

pytestmark = pytest.mark.skipif(not align.alignment_available(), reason="the align extra is not installed")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[Path, Path]:
    """A backdrop as a phone stores it (on its side with an EXIF orientation, a Display P3 profile), and a CMYK
    JPEG with a press's profile: what the kept photo must reproduce exactly as a fresh decode does."""
    folder = tmp_path_factory.mktemp("kept")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    sideways = folder / "sideways_p3.jpg"
    Image.open(OBAMA).convert("RGB").transpose(Image.Transpose.ROTATE_90).save(
        sideways, exif=exif.tobytes(), icc_profile=rgb_profile("display-p3"), quality=92)
    cmyk = folder / "press.jpg"
    Image.open(BIDEN).convert("CMYK").save(cmyk, icc_profile=cmyk_profile(), quality=92)
    return sideways, cmyk


def _counting_decodes(monkeypatch) -> Counter:
    """Full decodes by file name (`images._decode` with its pixels, not the 1/8-scale check nor a header)."""
    counts: Counter = Counter()
    real = images._decode

    def counted(path, max_pixels, **kwargs):
        if kwargs.get("pixels", True) and not kwargs.get("scaled", False):
            counts[Path(path).name] += 1
        return real(path, max_pixels, **kwargs)

    monkeypatch.setattr(images, "_decode", counted)
    return counts


def _morph(*args):
    result = cli_runner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    return result


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_paste_morph_decodes_each_photo_once_and_draws_what_a_second_decode_drew(tmp_path, monkeypatch, photos):
    """The backdrop was decoded for its alignment, again for the paster and a third time for the sheet's tile, the
    other photo again for its tile. Now each once; with no room to keep them (a full temp folder), each is decoded
    again where it is used, as before, and every frame and the sheet are byte for byte the same either way."""
    sideways, cmyk = photos
    counts = _counting_decodes(monkeypatch)
    args = [sideways, cmyk, "--weights", "demo", "--paste", "--steps", 3, "--no-cache", "-q"]
    _morph(*args, "-o", f"{tmp_path / 'kept'}/", "--sheet", tmp_path / "kept.png")
    assert counts == {"sideways_p3.jpg": 1, "press.jpg": 1}

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    counts.clear()
    monkeypatch.setattr(tempfile, "TemporaryFile", full_disk)
    _morph(*args, "-o", f"{tmp_path / 'again'}/", "--sheet", tmp_path / "again.png")
    assert counts == {"sideways_p3.jpg": 3, "press.jpg": 2}
    kept, again = _files(tmp_path / "kept"), _files(tmp_path / "again")
    assert len(kept) == 3 and kept == again
    assert (tmp_path / "kept.png").read_bytes() == (tmp_path / "again.png").read_bytes()


@pytest.mark.parametrize("output", ["m.gif", "sheet.png"])
def test_an_unaligned_photo_with_a_contact_sheet_is_decoded_once(tmp_path, monkeypatch, output):
    """With --no-align (a photo already cropped), the encoder's decode and then the sheet's tile decoded each photo
    again (2 each). Now the photo encoding read is kept for the tile: once each, and the sheet byte for byte what a
    second decode drew (a full temp folder decodes again, as before)."""
    counts = _counting_decodes(monkeypatch)
    args = [OBAMA, BIDEN, "--weights", "demo", "--no-align", "--steps", 3, "--no-cache", "-q"]
    sheet = [] if output == "sheet.png" else ["--sheet", "kept_sheet.png"]
    _morph(*args, "-o", tmp_path / f"kept_{output}", *[tmp_path / w if w.endswith(".png") else w for w in sheet])
    assert counts == {"obama.jpg": 1, "biden.jpg": 1}

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    counts.clear()
    monkeypatch.setattr(tempfile, "TemporaryFile", full_disk)
    _morph(*args, "-o", tmp_path / f"again_{output}",
           *[tmp_path / w.replace("kept", "again") if w.endswith(".png") else w for w in sheet])
    assert counts == {"obama.jpg": 2, "biden.jpg": 2}
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted([f"kept_{output}", f"again_{output}", *(["kept_sheet.png", "again_sheet.png"] * bool(sheet))])
    for name in {output, "sheet.png"}:
        assert (tmp_path / f"kept_{name}").read_bytes() == (tmp_path / f"again_{name}").read_bytes(), name


def test_each_batch_row_decodes_its_backdrop_once(tmp_path, monkeypatch):
    counts = _counting_decodes(monkeypatch)
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"{OBAMA},{BIDEN},one.gif\n{OBAMA},{BIDEN},two.mp4\n")
    _morph("batch", manifest, "--outdir", tmp_path / "out", "--weights", "demo", "--paste", "--steps", 2,
           "--no-cache", "-q")
    assert counts == {"obama.jpg": 2, "biden.jpg": 2}  # a decode of each photo per row
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"one.gif", "two.mp4"}


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs POSIX resource limits")
def test_a_file_size_limit_too_small_to_keep_the_backdrop_is_no_error(tmp_path):
    """A real RLIMIT_FSIZE under the kept photo's 3.1 MB (obama.jpg, 910x1137): the morph decodes it again and
    writes what it writes without the limit."""
    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path)}
    made = {}
    for name, preexec in (("free", None), ("limited", limited)):
        out = tmp_path / f"{name}.gif"
        done = subprocess.run([sys.executable, "-m", "interp_cli", str(OBAMA), str(BIDEN), "--weights", "demo",
                               "--paste", "--size", "300", "--steps", "2", "--no-cache", "-q", "-o", str(out)],
                              env=env, preexec_fn=preexec, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        made[name] = out.read_bytes()
    assert made["limited"] == made["free"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["free.gif", "limited.gif"]  # no temp left behind
