"""Read an untrusted `.npy` file: judged from its header before any memory is taken.

    code = read_npy("a.npy", check=lambda shape: None if shape == (18, 512) else "wrong shape")
    # -> the array, or UsageError("a.npy: wrong shape"), one line naming the file, for any bad file

`np.load` alone trusts the header: a 128-byte file claiming a shape of 10^11 x 512 asks for 200 TB
(MemoryError, which names no file), and a file that is not a .npy at all is handed to pickle's
branch, whose message blames "pickled data". Here the magic, version, dtype and shape are read
first, the data's size is checked against the file's, and only then is the array read (never
with pickles).

    code, record = read_npy_record("a.npy")      # and the record `record_bytes` appended, or None
    data = np.save'd bytes + record_bytes({"weights": "demo", "w_space": "3f2a..."})

A record is what a `.npy` header cannot hold (numpy refuses any key beyond descr, fortran_order and
shape): JSON on one line after the array's data, which every .npy reader leaves unread (np.load,
mmap_mode too, and interp before records). `interp encode` and `interp mix -o x.npy` record which
model made a code, so that another model refuses it instead of drawing some other face.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import tokenize
from collections.abc import Callable
from contextlib import nullcontext
from typing import BinaryIO

import numpy as np

from interp_cli.errors import InputError

# numpy's own limit (np.load's default max_header_size): np.save writes headers of about 128 bytes, and
# numpy refuses longer ones with advice (raise the limit, or allow_pickle=True) that is no answer to a
# file someone handed interp. So a longer header is judged here, in words of our own, before numpy's.
_MAX_HEADER_BYTES = 10_000
# The header's length field after the magic: 2 bytes in version 1.0, 4 in 2.0.
_HEADER_LENGTH = {(1, 0): "<H", (2, 0): "<I"}
# A record's start, after the array's data, and the most read of it: ours are about 130 bytes.
_RECORD_MARK = b"\n#interp "
_MAX_RECORD_BYTES = 4096


def record_bytes(record: dict) -> bytes:
    """What appends `record` (JSON-able) to a .npy's bytes, for `read_npy_record` to find."""
    return _RECORD_MARK + json.dumps(record, sort_keys=True, ensure_ascii=True).encode() + b"\n"


def read_npy(path: str | os.PathLike | BinaryIO, *, check: Callable[[tuple[int, ...]], str | None] | None = None,
             what: str = "a .npy file", name: str | None = None) -> np.ndarray:
    """The array in `path`, or UsageError (`<name>: ...`, one line) if it is not a numeric .npy
    whose data is all there, or if `check(shape)` returns a reason. `path` may be a file open for
    reading in binary from its start. OSErrors pass through."""
    return _read(path, check, what, name, record=False)[0]


def read_npy_record(path: str | os.PathLike | BinaryIO, *,
                    check: Callable[[tuple[int, ...]], str | None] | None = None, what: str = "a .npy file",
                    name: str | None = None) -> tuple[np.ndarray, dict | None]:
    """`read_npy`, and the record appended by `record_bytes` (a dict), or None where there is none: a file
    written by np.save or by interp before records, or bytes after the data that are no record of ours."""
    return _read(path, check, what, name, record=True)


def _read(path, check, what: str, name: str | None, *, record: bool) -> tuple[np.ndarray, dict | None]:
    is_file = hasattr(path, "read")
    shown = name if name is not None else (getattr(path, "name", "?") if is_file else os.fspath(path))
    with nullcontext(path) if is_file else open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise InputError(f"{shown}: not {what} (the file is empty)", shown)
        _, _, _, needed = _header(fh, size, shown, what, check)
        end = fh.tell() + needed
        fh.seek(0)
        try:
            array = np.load(fh, allow_pickle=False)
        except (ValueError, EOFError) as err:
            raise InputError(f"{shown}: not {what} ({' '.join(str(err).split())})", shown) from None
        if not record:
            return array, None
        fh.seek(end)
        return array, _record(fh.read(_MAX_RECORD_BYTES + 1))


def _header(fh: BinaryIO, size: int, shown: str, what: str, check) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """Judge the .npy header at `fh`'s position in a file of `size` bytes: (shape, dtype, fortran_order, the
    data's size in bytes), `fh` left where the data begins; InputError if the array is not there to be read."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
    except (ValueError, EOFError):
        raise InputError(f"{shown}: not {what} (no .npy header; is it another kind of file renamed?)",
                         shown) from None
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    if version not in readers:
        raise InputError(f"{shown}: not {what} (.npy format version {version[0]}.{version[1]} is not read here)",
                         shown)
    field, start = _HEADER_LENGTH[version], fh.tell()
    raw = fh.read(struct.calcsize(field))
    length = struct.unpack(field, raw)[0] if len(raw) == struct.calcsize(field) else 0  # short: numpy says so
    if length > _MAX_HEADER_BYTES:
        raise InputError(f"{shown}: not {what} (its header is {length:,} bytes, over the {_MAX_HEADER_BYTES:,} "
                         f"read here; np.save writes about 128)", shown)
    fh.seek(start)
    try:
        shape, fortran_order, dtype = readers[version](fh)
    # numpy tokenizes a header it cannot read at once (to mend Python 2's "10L"): an unclosed "(" raises
    # tokenize's TokenError, no ValueError, and its message is a tuple (the words, and where).
    except (ValueError, EOFError, SyntaxError, TypeError, tokenize.TokenError) as err:
        detail = err.args[0] if isinstance(err, tokenize.TokenError) else str(err)
        raise InputError(f"{shown}: not {what} (damaged .npy header: {' '.join(str(detail).split())})",
                         shown) from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InputError(f"{shown}: not {what} (it holds {dtype}, not plain numbers)", shown)
    problem = check(tuple(shape)) if check is not None else None
    if problem is not None:
        raise InputError(f"{shown}: {problem}", shown)
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python ints: no overflow
    have = size - fh.tell()
    if needed > have:
        raise InputError(f"{shown}: truncated or damaged .npy (its header promises {needed:,} bytes of data, "
                         f"the file holds {have:,})", shown)
    return tuple(shape), dtype, fortran_order, needed


def map_npys(path: str | os.PathLike, count: int, *, what: str = "a file of .npy arrays",
             name: str | None = None) -> list[np.ndarray]:
    """The `count` arrays of a file that holds their .npy files one after another (`files.atomic_save_npys`),
    each a read-only view of one memory mapping of the file, so only the pages a caller reads come from disk.

    Every header is judged as `read_npy` judges one (before anything is mapped), and the file must end where
    the last array does; else UsageError naming the file. OSErrors pass through. The mapping lives as long as
    an array does: files written through `atomic_write` are replaced, never changed in place, so what was
    mapped stays as it was.

    Not guarded: a file truncated in place by something else while mapped (`cp` or `rsync --inplace` over a live
    cache, `truncate`) ends the process with SIGBUS at the first read of a page past the new end. A size check
    before each use could not close that window (a face's fit reads pages for a few hundred ms after any check),
    and reading the file whole instead is what mapping saved (benchmarks/README.md, "Leftovers of the eighth
    audit"). interp itself only ever renames a whole new file into place or unlinks one, which a mapping survives.
    """
    shown = name if name is not None else os.fspath(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        layout = []
        for _ in range(count):
            shape, dtype, fortran_order, needed = _header(fh, size, shown, what, None)
            layout.append((shape, dtype, fortran_order, fh.tell()))
            fh.seek(needed, os.SEEK_CUR)
        if fh.tell() != size:
            raise InputError(f"{shown}: not {what} ({size - fh.tell():,} bytes after its last array)", shown)
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    return [_view(mapped, *where) for where in layout]


def _view(mapped: mmap.mmap, shape: tuple[int, ...], dtype: np.dtype, fortran_order: bool, offset: int) -> np.ndarray:
    # An empty array is a view of no bytes (count 0), at any offset up to the file's end.
    flat = np.frombuffer(mapped, dtype, int(np.prod(shape, dtype=object)), offset)
    return flat.reshape(shape[::-1]).T if fortran_order else flat.reshape(shape)


def _record(tail: bytes) -> dict | None:
    """The record in the bytes after a .npy's data, or None: anything else there is not ours to judge (np.load
    ignores it too), so a file with other bytes appended loads as it did before records."""
    if not tail.startswith(_RECORD_MARK) or len(tail) > _MAX_RECORD_BYTES:
        return None
    try:
        found = json.loads(tail[len(_RECORD_MARK):].decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return found if isinstance(found, dict) else None
