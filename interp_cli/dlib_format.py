"""Decode dlib's portable serialization format into numpy arrays, vectorised.

dlib writes every integer, and every float (as a mantissa integer followed by an exponent
integer), with one variable-length code: a control byte whose low 4 bits give the number of
little-endian magnitude bytes that follow (1..8) and whose top bit is the sign. A whole
`shape_predictor` file is therefore one long stream of such integers, with the structure
(vector sizes, matrix shapes) carried by some of the integers themselves.

Walking 33 million codes one by one in Python takes tens of seconds, so `decode_int_stream`
finds where each code starts with numpy: each block of the file is walked speculatively from
its first byte (all blocks in lockstep), and a short sequential pass then joins the true chain
of codes onto each block's speculative chain. Variable-length codes resynchronise within a few
codes, so that pass touches only a handful of bytes per block.
"""

from __future__ import annotations

import numpy as np

# A float's exponent integer takes these values for the non-finite floats (dlib float_details).
_EXPONENT_INF, _EXPONENT_NINF, _EXPONENT_NAN = 32000, 32001, 32002


class DlibFormatError(ValueError):
    """The bytes are not a dlib serialization stream of the expected layout."""


def code_starts(data: np.ndarray, *, block: int = 1024) -> np.ndarray:
    """Byte offsets (int64, increasing) of every integer code in `data` ([N] uint8), the first at 0."""
    return np.flatnonzero(code_start_mask(data, block=block))


def code_start_mask(data: np.ndarray, *, block: int = 1024) -> np.ndarray:
    """[N] bool: True at the first byte of every integer code in `data` ([N] uint8).

    Raises DlibFormatError when the codes do not end exactly at the end of `data`.
    """
    size = int(data.size)
    if size == 0:
        return np.zeros(0, bool)
    # Length of the code that would start at each byte (uint8 keeps the lanes' working set in
    # cache); the padding byte makes finished lanes inert.
    code_length = np.ones(size + 1, np.uint8)
    np.bitwise_and(data, 0x0F, out=code_length[:size])
    code_length[:size] += 1
    n_blocks = -(-size // block)
    block_end = np.minimum((np.arange(n_blocks, dtype=np.int64) + 1) * block, size)
    is_start = np.zeros(size + 1, bool)  # the extra slot absorbs the writes of finished lanes

    # Speculative pass: every block pretends a code starts at its first byte.
    position = np.arange(n_blocks, dtype=np.int64) * block
    live = np.empty(n_blocks, bool)
    target = np.empty(n_blocks, np.int64)
    step = np.empty(n_blocks, np.uint8)
    for iteration in range(block + 1):
        np.less(position, block_end, out=live)
        # any() over all lanes is not free; checking it now and then is enough.
        if iteration % 32 == 0 and not live.any():
            break
        target.fill(size)
        np.copyto(target, position, where=live)
        is_start[target] = True
        np.take(code_length, target, out=step)
        step *= live
        position += step
    exits = position.tolist()

    # Join pass: follow the true chain into each block until it meets that block's speculative
    # chain; the speculative starts before the meeting point are wrong and are cleared.
    raw = memoryview(data)  # indexes to ints as fast as bytes do, without a 100 MB copy of the file
    true_position = 0
    for index in range(n_blocks):
        begin = index * block
        end = int(block_end[index])
        cursor = true_position
        walked = []
        while cursor < end and not is_start[cursor]:
            walked.append(cursor)
            cursor += (raw[cursor] & 0x0F) + 1
        if cursor >= end:  # never met: nothing the speculative walk marked here is real
            is_start[begin:end] = False
            true_position = cursor
        else:
            is_start[begin:cursor] = False
            true_position = exits[index]
        if walked:
            is_start[walked] = True
    if true_position != size:
        raise DlibFormatError(f"integer codes overrun the end of the data ({true_position} != {size} bytes)")
    return is_start[:size]


def decode_int_stream(data: np.ndarray, *, chunk: int = 1 << 20, dtype=np.int64) -> np.ndarray:
    """All integers of a dlib serialization stream ([N] uint8 bytes) as an array of `dtype` (int64 or int32).

    Only codes of up to 4 magnitude bytes are supported, which covers every value in a
    shape predictor (24-bit float mantissas, small exponents, sizes and indices). With int32 a
    value past its range raises DlibFormatError: a shape predictor has none, and its 33 million
    integers take 127 MB instead of 255 (the bulk of a first run's parse, on top of the checkpoint).
    """
    data = np.ascontiguousarray(data, dtype=np.uint8)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.int64), np.dtype(np.int32)):
        raise ValueError(f"decode_int_stream decodes to int64 or int32, not {dtype}")
    # The code starts as bits (12 MB for the 100 MB model, not 100 MB of bools), unpacked a chunk at a time: the
    # mask and the values are never alive together, which set the peak of a first run's parse.
    is_start = code_start_mask(data)
    count = int(np.count_nonzero(is_start))
    starts_bits = np.packbits(is_start)
    del is_start
    values = np.empty(count, dtype)
    chunk = max(8, chunk - chunk % 8)  # whole bytes of starts_bits
    # The 4 bytes after an offset, read as one little-endian word through an unaligned strided
    # view; it stops 4 bytes short of the end, and the few codes there are decoded one by one.
    n_words = max(data.size - 4, 0)
    words = np.ndarray((n_words,), "<u4", buffer=data, offset=1, strides=(1,)) if n_words else None
    keep_bytes = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF] + [0] * 11, np.uint32)
    filled = 0
    # Chunk by chunk of bytes, so the temporaries stay small and in cache.
    for begin in range(0, data.size, chunk):
        offsets = np.flatnonzero(np.unpackbits(starts_bits[begin // 8:(begin + chunk) // 8])) + begin
        if offsets.size == 0:
            continue
        control = data[offsets]
        n_bytes = control & 0x0F
        if n_bytes.max() > 4 or n_bytes.min() < 1:
            raise DlibFormatError("integer code with an unsupported length (expected 1 to 4 bytes)")
        magnitude = np.empty(offsets.size, np.uint32)
        in_view = offsets < n_words
        if words is not None:
            magnitude[in_view] = words[offsets[in_view]] & keep_bytes[n_bytes[in_view]]
        for index in np.flatnonzero(~in_view):
            start = int(offsets[index]) + 1
            magnitude[index] = int.from_bytes(data[start:start + int(n_bytes[index])].tobytes(), "little")
        if dtype == np.int32 and magnitude.size and magnitude.max() > np.iinfo(np.int32).max:
            raise DlibFormatError("integer code past 32 bits, where a shape predictor has none")
        part = values[filled:filled + offsets.size]
        part[...] = magnitude
        np.negative(part, out=part, where=control >= 0x80)
        filled += offsets.size
    return values


def floats_from_pairs(pairs: np.ndarray) -> np.ndarray:
    """float32 values from dlib float codes: `pairs` [..., 2] int64 = (mantissa, exponent)."""
    mantissa = pairs[..., 0].astype(np.float64)
    exponent = pairs[..., 1]
    finite = exponent < _EXPONENT_INF
    values = np.ldexp(mantissa, np.where(finite, exponent, 0).astype(np.int32))
    values = np.where(exponent == _EXPONENT_INF, np.inf, values)
    values = np.where(exponent == _EXPONENT_NINF, -np.inf, values)
    values = np.where(exponent == _EXPONENT_NAN, np.nan, values)
    with np.errstate(over="ignore"):  # past float32's range is infinite, which the readers refuse: no warning line
        return values.astype(np.float32)


class _Cursor:
    """What both readers below share: reading an integer that must have a known value."""

    def integer(self) -> int:
        raise NotImplementedError

    def expect(self, expected: int, what: str) -> None:
        """Read one integer and check that it equals `expected`."""
        found = self.integer()
        if found != expected:
            raise DlibFormatError(f"unexpected {what}: {found} (expected {expected})")


class IntStream(_Cursor):
    """A cursor over decoded dlib integers that reads the containers a shape predictor uses."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.position = 0

    def take(self, count: int) -> np.ndarray:
        """The next `count` integers ([count] int64)."""
        end = self.position + count
        if end > self.values.size:
            raise DlibFormatError("data ends in the middle of an object")
        chunk = self.values[self.position:end]
        self.position = end
        return chunk

    def integer(self) -> int:
        """One integer (a size, an index, a version number)."""
        return int(self.take(1)[0])

    def float_column(self) -> np.ndarray:
        """A dlib `matrix<float,0,1>`: shape header (stored negated), then the values ([n] float32)."""
        rows, cols = abs(self.integer()), abs(self.integer())
        if cols != 1:
            raise DlibFormatError(f"expected a column vector, found a {rows}x{cols} matrix")
        return floats_from_pairs(self.take(2 * rows).reshape(rows, 2))

    @property
    def exhausted(self) -> bool:
        return self.position == self.values.size


class ByteReader(_Cursor):
    """A cursor over the bytes of a dlib serialization stream that mixes integer codes with raw
    bytes: strings (a length, then the characters), bools (the character '0' or '1') and tensors
    (a header, then little-endian float32s). A DNN file such as
    `dlib_face_recognition_resnet_model_v1.dat` is one: its few thousand small values are read one by
    one, its weights as whole arrays. Every read checks the bounds and raises DlibFormatError."""

    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.position = 0

    def _bytes(self, count: int) -> memoryview:
        end = self.position + count
        if count < 0 or end > len(self.data):
            raise DlibFormatError("data ends in the middle of an object")
        chunk = self.data[self.position:end]
        self.position = end
        return chunk

    def integer(self) -> int:
        """One integer code: a control byte (low 4 bits: the byte count, top bit: the sign), then
        that many little-endian magnitude bytes."""
        control = self._bytes(1)[0]
        if control & 0x70:
            raise DlibFormatError(f"not an integer code (control byte {control:#04x} at {self.position - 1})")
        count = control & 0x0F
        if not 1 <= count <= 8:
            raise DlibFormatError(f"integer code with {count} bytes at {self.position - 1}")
        value = int.from_bytes(self._bytes(count), "little")
        return -value if control & 0x80 else value

    def boolean(self) -> bool:
        value = bytes(self._bytes(1))
        if value not in (b"0", b"1"):
            raise DlibFormatError(f"not a bool: {value!r} at {self.position - 1}")
        return value == b"1"

    def string(self, longest: int = 256) -> str:
        size = self.integer()
        if not 0 <= size <= longest:
            raise DlibFormatError(f"string of {size} bytes at {self.position}")
        return bytes(self._bytes(size)).decode("ascii", "replace")

    def floating(self) -> float:
        """A float or double: its mantissa integer, then its exponent integer."""
        mantissa, exponent = self.integer(), self.integer()
        return float(floats_from_pairs(np.array([[mantissa, exponent]], np.int64))[0])

    def _shape(self) -> tuple[int, int, int, int]:
        shape = tuple(self.integer() for _ in range(4))
        if min(shape) < 0 or np.prod(shape, dtype=np.float64) > len(self.data):
            raise DlibFormatError(f"impossible tensor shape {shape}")
        return shape  # type: ignore[return-value]

    def tensor(self) -> np.ndarray:
        """A `resizable_tensor` (version 2): [num_samples, k, nr, nc] float32."""
        self.expect(2, "tensor version")
        shape = self._shape()
        count = int(np.prod(shape))
        return np.frombuffer(self._bytes(4 * count), "<f4").reshape(shape).astype(np.float32)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        """An `alias_tensor` (version 1): only a shape, a view into a layer's parameters."""
        self.expect(1, "alias_tensor version")
        return self._shape()

    @property
    def exhausted(self) -> bool:
        return self.position == len(self.data)
