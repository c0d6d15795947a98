"""interp_cli.npy: an untrusted .npy is judged from its header before any memory is taken."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from interp_cli.cli import cli
from interp_cli.errors import UsageError
from interp_cli.files import atomic_save_npy, atomic_save_npys
from interp_cli.npy import map_npys, read_npy
from tests.cli_runner import cli_runner
from tests.recipe import GOLDEN_DIR


def huge_header(path: Path, shape=(10**11, 512)) -> Path:
    """A 200-byte .npy whose header claims `shape` (float32): np.load would try to allocate it all."""
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (127 - 10 - len(header)) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 64)
    return path


def header_of(path: Path, header: str) -> Path:
    """A version 1.0 .npy whose header is `header` (padded as np.save pads one), then a code's worth of data."""
    raw = header.encode() + b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw)) + raw + b"\0" * (10 * 128 * 4))
    return path


def test_a_good_file_reads_and_the_check_sees_the_shape(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    seen = []
    out = read_npy(tmp_path / "a.npy", check=lambda shape: seen.append(shape))
    assert seen == [(2, 3)] and out.tolist() == [[0, 1, 2], [3, 4, 5]]
    with open(tmp_path / "a.npy", "rb") as fh:  # an open file works too (the latent cache reads one)
        assert read_npy(fh).shape == (2, 3)


@pytest.mark.parametrize("make, fragment", [
    (lambda p: huge_header(p), "promises 204,800,000,000,000 bytes of data, the file holds 64"),
    (lambda p: p.write_bytes((GOLDEN_DIR / "golden_input_A.png").read_bytes()), "not a .npy file (no .npy header"),
    (lambda p: p.write_bytes(b""), "the file is empty"),
    (lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True), "holds object"),
    (lambda p: np.save(p, np.array(["text"])), "not plain numbers"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}   \n"), "damaged .npy header"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x07\x00\x10\x00"), "version 7.0"),
    # Found by benchmarks/fuzz_inputs.py: numpy tokenizes a header it cannot read, and an unclosed "(" was
    # tokenize's TokenError ("interp: internal error: TokenError").
    (lambda p: header_of(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 128), 'x': 1"),
     "damaged .npy header: EOF in multi-line statement"),
])
def test_bad_files_are_one_line_naming_the_file_and_nothing_is_allocated(tmp_path, make, fragment):
    path = tmp_path / "codes.npy"
    make(path)
    with pytest.raises(UsageError) as caught:
        read_npy(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and fragment in message and "\n" not in message


@pytest.mark.parametrize("version, field", [(1, "<H"), (2, "<I")])
def test_an_oversized_header_is_refused_without_numpys_advice_to_weaken_safety(tmp_path, version, field):
    """The auditor's case: numpy's message went through, advising max_header_size or allow_pickle=True."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 128), }" + " " * 60000 + "\n"
    path = tmp_path / "hh.npy"
    path.write_bytes(b"\x93NUMPY" + bytes([version, 0]) + struct.pack(field, len(header)) + header.encode()
                     + np.zeros((10, 128), "f4").tobytes())
    with pytest.raises(UsageError) as caught:
        read_npy(path, what="a .npy code file", name="hh.npy")
    assert str(caught.value) == ("hh.npy: not a .npy code file (its header is 60,063 bytes, over the 10,000 read "
                                 "here; np.save writes about 128)")


def test_a_header_of_exactly_the_most_read_still_loads(tmp_path):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    header += " " * (10_000 - len(header) - 1) + "\n"  # 10,000 bytes, numpy's own limit too
    path = tmp_path / "long.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
                     + np.arange(6, dtype="<f4").tobytes())
    assert read_npy(path).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_a_cut_header_length_is_still_a_damaged_header(tmp_path):
    path = tmp_path / "cut.npy"
    path.write_bytes(b"\x93NUMPY\x02\x00\x01")
    with pytest.raises(UsageError, match="damaged .npy header"):
        read_npy(path)


def test_a_huge_claimed_shape_is_refused_under_a_small_memory_limit(tmp_path):
    """With 1 GB of address space, np.load of the same file dies with MemoryError; read_npy says why."""
    path = huge_header(tmp_path / "huge.npy", shape=(2000, 1000, 512))  # 4 GB claimed
    code = ("import resource, sys, numpy as np\n"
            "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
            "from interp_cli.npy import read_npy\nfrom interp_cli.errors import UsageError\n"
            "try:\n    read_npy(sys.argv[1])\nexcept UsageError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr
    assert "truncated or damaged .npy" in done.stdout


def test_single_commands_say_it_in_one_line_also_with_debug(tiny_ckpt, tmp_path):
    png = tmp_path / "photo.npy"
    png.write_bytes((GOLDEN_DIR / "golden_input_A.png").read_bytes())
    huge = huge_header(tmp_path / "huge.npy")
    cases = {huge: f"{huge}: code has shape [100000000000, 512], this model needs [6, 32]",
             png: f"{png}: not a .npy code file (no .npy header; is it another kind of file renamed?)"}
    for path, line in cases.items():
        for command in (["render", path, "-o", tmp_path / "out.png"],
                        [path, GOLDEN_DIR / "golden_input_B.png", "--no-align", "-o", tmp_path / "out.gif"]):
            # in this process: a child would add only torch's import; an escaping exception is re-raised
            done = cli_runner().invoke(cli, [*map(str, command), "--weights", str(tiny_ckpt), "--debug"])
            if done.exception is not None and not isinstance(done.exception, SystemExit):
                raise done.exception
            assert (done.exit_code, done.stderr.strip().splitlines()) == (2, [f"interp: error: {line}"])
            assert sorted(os.listdir(tmp_path)) == ["huge.npy", "photo.npy"]


def test_a_record_after_the_data_is_read_back_and_every_reader_still_gets_the_array(tmp_path):
    from interp_cli.npy import read_npy_record, record_bytes

    code = np.arange(20, dtype=np.float32).reshape(4, 5)
    plain, recorded = tmp_path / "plain.npy", tmp_path / "recorded.npy"
    np.save(plain, code)
    recorded.write_bytes(plain.read_bytes() + record_bytes({"weights": "demo", "w_space": "0123abcd"}))
    array, record = read_npy_record(recorded)
    assert np.array_equal(array, code) and record == {"weights": "demo", "w_space": "0123abcd"}
    assert read_npy_record(plain)[1] is None  # np.save's own file, or one from before records
    # numpy, memory-mapped too, and read_npy (interp before records) read the array alone.
    for loaded in (np.load(recorded), np.load(recorded, mmap_mode="r"), read_npy(recorded)):
        assert np.array_equal(loaded, code)


@pytest.mark.parametrize("tail", [
    b"other bytes someone appended",
    b"\n#interp [1, 2]\n",  # no object
    b"\n#interp {not json\n",
    b"\n#interp {\"w_space\": \"" + b"a" * 5000 + b"\"}\n",  # longer than any record: not read whole
    b"\n#interp " + b"[" * 4000 + b"\n",  # nesting deeper than the JSON parser's stack allows
    b"\n#notes: {\"by\": \"another tool\"}\n",  # JSON under another tool's mark of the same length
])
def test_bytes_after_the_data_that_are_no_record_of_ours_are_ignored(tmp_path, tail):
    from interp_cli.npy import read_npy_record

    path = tmp_path / "a.npy"
    np.save(path, np.ones((2, 3), np.float32))
    path.write_bytes(path.read_bytes() + tail)
    array, record = read_npy_record(path)
    assert record is None and array.shape == (2, 3)


def test_a_record_reads_back_with_a_name_that_is_not_ascii_and_up_to_the_most_read(tmp_path):
    """A record names what made the code (a weights file under /home/zoë); it is read whole up to 4,096 bytes,
    the most read after the data, and a longer one is no record of ours."""
    from interp_cli.npy import read_npy_record, record_bytes

    np.save(tmp_path / "plain.npy", np.ones(3, np.float32))
    for size, read_back in ((4096, True), (4097, False)):
        record = {"weights": "/home/zo\u00eb/ffhq.pt", "pad": ""}
        record["pad"] = "x" * (size - len(record_bytes(record)))
        assert len(record_bytes(record)) == size
        (tmp_path / "a.npy").write_bytes((tmp_path / "plain.npy").read_bytes() + record_bytes(record))
        assert read_npy_record(tmp_path / "a.npy")[1] == (record if read_back else None)


ARRAYS = [np.arange(12, dtype=np.float32).reshape(3, 4), np.float64(3.5), np.zeros((0, 3), np.int32),
          np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.array([True, False]), np.arange(24).reshape(4, 6)[:, ::2],
          np.arange(5, dtype=">i2")]


@pytest.mark.parametrize("array", ARRAYS, ids=range(len(ARRAYS)))
def test_atomic_save_npy_writes_np_saves_bytes_and_map_npys_reads_them(tmp_path, array):
    np.save(tmp_path / "numpy.npy", array)
    atomic_save_npy(tmp_path / "ours.npy", array)
    assert (tmp_path / "ours.npy").read_bytes() == (tmp_path / "numpy.npy").read_bytes()
    mapped = map_npys(tmp_path / "ours.npy", 1)[0]
    assert mapped.dtype == np.asarray(array).dtype and mapped.shape == np.shape(array)
    assert np.array_equal(mapped, array)


def test_map_npys_maps_arrays_one_after_another_read_only(tmp_path):
    atomic_save_npys(tmp_path / "all.npys", ARRAYS)
    mapped = map_npys(tmp_path / "all.npys", len(ARRAYS))
    for got, saved in zip(mapped, ARRAYS):
        assert got.dtype == np.asarray(saved).dtype and np.array_equal(got, saved)
    with pytest.raises(ValueError):
        mapped[0][0, 0] = 1  # a view of the file's pages, which nobody writes through


def _two_arrays(tmp_path: Path) -> bytes:
    atomic_save_npys(tmp_path / "two.npys", [np.arange(4, dtype=np.float32), np.arange(5, dtype=np.int32)])
    return (tmp_path / "two.npys").read_bytes()


@pytest.mark.parametrize("make, fragment", [
    (lambda tmp: _two_arrays(tmp)[:-4], "truncated or damaged .npy (its header promises 20 bytes of data, the file "
                                        "holds 16)"),
    (lambda tmp: _two_arrays(tmp) + b"\0", "not a file of .npy arrays (1 bytes after its last array)"),
    # A hostile header after a good array: judged before anything is mapped or allocated.
    (lambda tmp: _two_arrays(tmp)[:144] + huge_header(tmp / "huge.npy").read_bytes(),
     "promises 204,800,000,000,000 bytes of data, the file holds 64"),
    (lambda tmp: b"", "no .npy header"),
])
def test_a_damaged_file_of_arrays_is_one_line_naming_it(tmp_path, make, fragment):
    path = tmp_path / "all.npys"
    path.write_bytes(make(tmp_path))
    with pytest.raises(UsageError) as caught:
        map_npys(path, 2)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and fragment in message and "\n" not in message
