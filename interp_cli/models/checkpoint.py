"""Read e4e and rosinality checkpoints into our networks.

Two layouts are understood:
- e4e (`e4e_ffhq_encode.pt`): `{'state_dict': {'encoder.*', 'decoder.*'}, 'latent_avg': [n, 512],
  'opts': {...}}`: encoder + generator.
- rosinality (`stylegan2-ffhq-config-f.pt`): `{'g_ema': {...}, 'latent_avg': [512]}`: generator only,
  for rendering codes made elsewhere.

The network shapes are inferred from the keys (and `opts`), the matching network is built on
the meta device (no memory for random weights) and the tensors are assigned strictly. Files are
read with `weights_only=True` (never unpickling code) and memory-mapped where torch supports it,
so a 1.2 GB file is not copied into memory twice.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from interp_cli.errors import CheckpointError, caught_warnings
from interp_cli.failures import is_out_of_memory
from interp_cli.inputs import input_kind
from interp_cli.models.e4e import Encoder4Editing, EncoderConfig
from interp_cli.models.stylegan2 import Generator, GeneratorConfig
from interp_cli.sha256_record import passed_check, remember_check


def _first(keys, n: int = 3) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def read_checkpoint_file(path: str | Path, *, name: str | None = None) -> dict:
    """`torch.load` a checkpoint safely (weights_only, CPU, mmap when possible) or raise CheckpointError.

    `name` is how the errors name the file (default: its base name); `Session` passes the `--weights`
    value as the user typed it (`ResolvedWeights.label`), as the path here is already absolute.
    """
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise CheckpointError(f"{name}: weights file not found")
    use_mmap = zipfile.is_zipfile(path)  # mmap needs torch's zip container (the default since torch 1.6)
    try:
        # torch warns about what it meets in a file ("Detected pickle protocol 4 ...", advice to file issues
        # with PyTorch): words for torch's developers, not a CLI user, and any file that fails is reported below.
        with caught_warnings(("ignore", Warning)):
            # A str, not the Path: torch 2.1 (the lowest supported) refuses mmap for anything but a str
            # ("f must be a string filename in order to use mmap argument"); 2.2 took path-likes too.
            data = torch.load(os.fspath(path), map_location="cpu", weights_only=True, mmap=use_mmap)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad files
        if is_out_of_memory(err):
            # This machine's trouble, not the file's: an mmap refused under `ulimit -v` was "not a readable PyTorch
            # checkpoint (truncated or corrupt)", sending the user to fetch again weights that are whole.
            raise
        raise CheckpointError(_why_unreadable(err, path, name, zipped=use_mmap)) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{name}: not an e4e or StyleGAN2 checkpoint (top level is {type(data).__name__})")
    return data


def _why_unreadable(err: Exception, path: Path, name: str, *, zipped: bool) -> str:
    """The one line that says why `torch.load(weights_only=True)` refused the file, and what would work.

    Told from the file's first bytes (and, in a zip, its pickle's first bytes), never by unpickling it.
    """
    # torch's messages run to several lines of advice; keep the one line that says what broke.
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    detail = next((ln for ln in lines if len(ln) < 100 and not ln.startswith(("Check the", "Please"))),
                  type(err).__name__)
    if isinstance(err, KeyError):  # the legacy unpickler hit bytes that are not a pickle at all
        detail = "no PyTorch data found"
    if path.stat().st_size == 0:
        return f"{name}: the file is empty"
    if not zipped and _is_plain_pickle(path):
        return (f"{name}: not a PyTorch checkpoint but a plain Python pickle (pickle.dump, not torch.save); "
                f"such files are not loaded, as unpickling them can run code. If you trust it, save it "
                f"again with torch.save, in Python: {_resave_hint(path, name, _READ_PICKLE)}")
    if "Unsupported global" in str(err) or "GLOBAL" in str(err):
        return (f"{name}: refused: the file contains Python objects, not just tensors "
                f"(only weights_only checkpoints are loaded)")
    protocol = _torch_pickle_protocol(path, zipped)
    if "Unsupported operand" in str(err) and protocol is not None and protocol not in _SAFE_PROTOCOLS:
        # torch.save(..., pickle_protocol=N): weights_only's unpickler knows the opcodes of protocols 2 and 3
        # only (torch 2.13: FRAME, protocol 4's first opcode, is 'Unsupported operand 149').
        what = f"{'an old-format (before torch 1.6)' if not zipped else 'a'} torch.save checkpoint written with " \
               f"pickle protocol {protocol}"
        if protocol == 0:  # its storages are text persistent ids, which torch.load's own unpickler refuses too
            return (f"{name}: {what}, which torch cannot load back, safely or not; save the model again with "
                    f"torch.save's default protocol (no pickle_protocol=0)")
        return (f"{name}: {what}, which torch {torch.__version__} cannot load without unpickling code (weights_only "
                f"reads protocols 2 and 3). If you trust it, save it again with torch's default protocol, in Python: "
                f"{_resave_hint(path, name, _READ_TORCH)}")
    with open(path, "rb") as fh:
        kind = input_kind(fh.read(12))
    if kind:  # a photo or a code named where the weights go: whole files, not damaged ones
        return f"{name}: {kind}, not a PyTorch checkpoint"
    return f"{name}: not a readable PyTorch checkpoint (truncated or corrupt: {detail})"


# How the re-save hints read a file that interp will not: only where the user trusts it, as they say.
_READ_PICKLE = "pickle.load(open({}, 'rb'))"
_READ_TORCH = "torch.load({}, weights_only=False)"


def _resave_hint(path: Path, name: str, reader: str) -> str:
    """`import torch; torch.save(READER, 'NAME_resaved.pt')`, then where to point --weights: a line that runs as
    given, and writes a file that does not exist yet (`NAME_resaved2.pt` where that one does). The file is
    named as typed where that names this very file from here (`~` expanded, as Python's open does not), else
    by the path it was read from."""
    typed = os.path.expanduser(name)
    source = typed if os.path.isfile(typed) and os.path.samefile(typed, path) else os.fspath(path)
    stem, suffix = os.path.splitext(source)
    # A name nothing has yet, so following the advice never replaces a file (an earlier re-save, say).
    target, number = f"{stem}_resaved{suffix or '.pt'}", 1
    while os.path.lexists(os.path.expanduser(target)):
        number += 1
        target = f"{stem}_resaved{number}{suffix or '.pt'}"
    module = "pickle, torch" if reader is _READ_PICKLE else "torch"
    return f"import {module}; torch.save({reader.format(repr(source))}, {target!r}); then use {target}"


# The pickle protocols torch.load(weights_only=True) reads (torch.save writes 2 unless told otherwise).
_SAFE_PROTOCOLS = (2, 3)


def _torch_pickle_protocol(path: Path, zipped: bool) -> int | None:
    """The pickle protocol a torch.save file was written with, read from the first bytes of its pickle;
    None when it is not a torch.save file. A zip holds it as `<archive>/data.pkl`; the old format starts
    with torch's magic number, as a pickle of its own."""
    if zipped:
        try:
            with zipfile.ZipFile(path) as archive:
                pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
                if not pickles:
                    return None
                with archive.open(pickles[0]) as fh:
                    head = fh.read(_SNIFF_BYTES)
        except (OSError, zipfile.BadZipFile, RuntimeError, EOFError):  # a damaged zip: truncated or corrupt
            return None
    else:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
        if not _starts_old_format(head):
            return None
        if head.startswith(_LEGACY_TORCH_START_TEXT):
            head = head[len(_LEGACY_TORCH_START_TEXT):]  # protocol 0 or 1: the next pickle tells which
    if not head:
        return None
    if head[0] == _PROTO:
        return head[1] if len(head) > 1 else None
    return _opcodes_protocol(head)


def _opcodes_protocol(head: bytes) -> int:
    """0 or 1 for a pickle without PROTO: 1 if any of its first opcodes is one protocol 1 added (binary)."""
    opcodes, _error = _pickle_opcodes(head, most=65)
    return min(max((opcode.proto for opcode in opcodes), default=0), 1)


def _pickle_opcodes(head: bytes, most: int | None = None) -> tuple[list, str | None]:
    """The opcodes `head` starts with, through its STOP (or the first `most`), and why the walk ended early:
    an unknown opcode, or an argument cut off at the end of `head` (None when it did not). `pickletools` only
    parses the bytes: it builds no object and imports nothing."""
    import io
    import pickletools

    opcodes = []
    try:
        for opcode, _arg, _pos in pickletools.genops(io.BytesIO(head)):
            opcodes.append(opcode)
            if opcode.name == "STOP" or len(opcodes) == most:
                break
    except ValueError as err:
        return opcodes, str(err)
    return opcodes, None


# torch.save's old (pre-1.6, non-zip) format is pickles too, but its first pickle is this number alone
# (torch.serialization.MAGIC_NUMBER: a 10-byte LONG1 from protocol 2 on, a decimal LONG line in 0 and 1);
# a plain pickle.dump file starts with its object instead.
_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_TORCH_START = b"\x8a\x0a" + _MAGIC.to_bytes(10, "little")
_LEGACY_TORCH_START_TEXT = b"L%dL\n." % _MAGIC
_PROTO = 0x80  # the opcode that opens a pickle of protocol 2 or later, before its protocol number
_PICKLE_FRAME = 0x95  # protocol 4+: an 8-byte frame length before the first object
_SNIFF_BYTES = 64 * 1024


def _starts_old_format(head: bytes) -> bool:
    """Whether a file's first bytes are torch.save's old format: its magic number, pickled alone."""
    if head.startswith(_LEGACY_TORCH_START_TEXT):
        return True
    if len(head) < 3 or head[0] != _PROTO:
        return False
    body = head[2:]
    if body[0] == _PICKLE_FRAME:
        body = body[9:]
    return body.startswith(_LEGACY_TORCH_START)


def _is_plain_pickle(path: Path) -> bool:
    """Whether the file is a pickle (what pickle.dump writes, any protocol) that is not torch's legacy format.

    Read from its first bytes only, never unpickled: protocols 2-5 open with PROTO; 0 and 1 have no header,
    so their first 64 kB must read as pickle opcodes (pickletools only parses them: it builds no object and
    imports nothing), as text, images and zips do not for long.
    """
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if _starts_old_format(head):
        return False
    if head[:1] == bytes([_PROTO]):
        return len(head) >= 3 and 2 <= head[1] <= 5
    return _reads_as_pickle_opcodes(head, whole=len(head) < _SNIFF_BYTES)


def _reads_as_pickle_opcodes(head: bytes, *, whole: bool) -> bool:
    """Whether `head` parses as protocol 0/1 pickle opcodes: to its STOP (when it is the whole file) or to
    the end of the bytes read (a longer file). Random or text bytes meet an unknown opcode within a few."""
    opcodes, error = _pickle_opcodes(head)
    if any(opcode.proto > 1 for opcode in opcodes):  # an opcode of a later protocol, and no PROTO: not pickle.dump's
        return False
    if error is not None:  # an unknown opcode, or an argument cut off at the end of `head`
        return not whole and len(opcodes) >= 8 and "unknown" not in error
    return bool(opcodes) and opcodes[-1].name == "STOP" and len(opcodes) > 1


def _refuse_non_tensors(state: dict, name: str, prefix: str) -> None:
    """CheckpointError naming the first entry that is not a named tensor (weights_only also lets lists,
    numbers and strings through, which the shape inference below would trip over as an internal error)."""
    for key, value in state.items():
        if not isinstance(key, str):
            raise CheckpointError(f"{name}: the state dict has a key that is not a name: {key!r}")
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{name}: {prefix}{key} is not a tensor ({type(value).__name__})")


# The record's name for "every weight of this file version is finite" (interp_cli.sha256_record).
FINITE_CHECK = "finite"


def all_finite(tensor: torch.Tensor) -> bool:
    """No NaN or infinity in `tensor`: its sum first (one pass, no [N] bool tensor to allocate and reduce), the exact
    test only where the sum is not finite (a NaN or infinity, or finite values near 1e38 / numel that overflow). The
    exact test alone is the slow one on a loaded machine (below; loading the 22 MB face descriptor, median 0.84 s
    with it and 0.38 s with this, benchmarks/README.md)."""
    return bool(torch.isfinite(tensor.sum()).all()) or bool(torch.isfinite(tensor).all())


def _refuse_non_finite(tensors: dict, name: str) -> None:
    """CheckpointError naming the first tensor holding a NaN or an infinity (a damaged or diverged file).

    Such weights render black frames, which the likeness advice then blames on the model. The check reads
    every weight, which the lazy mmap load does not: measured on a full-size (1.2 GB) random e4e
    checkpoint on the busy 2-core development VM, load_model takes 0.3-0.7 s without it and 1.7-3.9 s with
    it (a float32 sum per tensor; torch.isfinite(t).all() took 9-15 s more; hashing the file: 3.3 s). So
    load_model runs it once per file version and remembers the pass in the sha256 record (size + mtime_ns),
    as the digest is. A sum overflows only for finite values near 1e38 / numel, which the exact test clears.
    """
    for key, value in tensors.items():
        if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()):
            if not all_finite(value):
                raise CheckpointError(f"{name}: {key} holds NaN or infinite values: the file is damaged "
                                      f"(download or export it again)")


def _option(value, kind: type, name: str, what: str):
    """`kind(value)` of a value in the checkpoint's opts (a number, a flag), or CheckpointError where it is none
    (a string, a list, a tensor of several values: hand-made opts that would else be an internal error)."""
    if isinstance(value, (bool, int, float)) or (isinstance(value, torch.Tensor) and value.numel() == 1):
        return kind(value)
    raise CheckpointError(f"{name}: opts' {what} is {type(value).__name__} {str(value)[:40]!r}, not a "
                          f"{'flag' if kind is bool else 'number'}")


def _prefixed(state: dict, prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _width(state: dict[str, torch.Tensor], key: str, axis: int, name: str) -> int:
    """The size of `state[key]` along `axis`, which the network's shape is inferred from: CheckpointError where
    the tensor has no such axis or it is empty (a hand-made file), rather than an IndexError, or a network of
    width 0 that fails to build (a ZeroDivisionError). KeyError, for a missing key, is the caller's to say."""
    shape = list(state[key].shape)
    if len(shape) <= axis or shape[axis] < 1:
        raise CheckpointError(f"{name}: {key} has shape {shape}, which is not this weight's")
    return int(shape[axis])


def infer_generator_config(state: dict[str, torch.Tensor], name: str = "checkpoint") -> GeneratorConfig:
    """Generator shape from its state dict (keys without the `decoder.`/`g_ema.` prefix)."""
    try:
        n_mlp = sum(1 for k in state if re.fullmatch(r"style\.\d+\.weight", k))
        style_dim = _width(state, "style.1.weight", 1, name)
        n_rgbs = sum(1 for k in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k))
        log_size = n_rgbs + 2
        channels = {4: _width(state, "input.input", 1, name)}
        for i in range(3, log_size + 1):
            channels[2 ** i] = _width(state, f"convs.{2 * (i - 3)}.conv.weight", 1, name)
    except KeyError as err:
        raise CheckpointError(f"{name}: generator is missing key {err.args[0]!r}") from None
    return GeneratorConfig(size=2 ** log_size, style_dim=int(style_dim), n_mlp=n_mlp, channels=channels)


def infer_encoder_config(state: dict[str, torch.Tensor], name: str = "checkpoint") -> EncoderConfig:
    """Encoder shape from its state dict (keys without the `encoder.` prefix)."""
    try:
        n_units = sum(1 for k in state if re.fullmatch(r"body\.\d+\.res_layer\.1\.weight", k))
        widths: list[int] = []
        units: list[int] = []
        for i in range(n_units):
            depth = _width(state, f"body.{i}.res_layer.1.weight", 0, name)
            if widths and widths[-1] == depth and i > 0:
                units[-1] += 1
            else:
                widths.append(int(depth))
                units.append(1)
        n_styles = sum(1 for k in state if re.fullmatch(r"styles\.\d+\.linear\.weight", k))
        style_dim = _width(state, "styles.0.linear.weight", 0, name)
        coarse_convs = sum(1 for k in state if re.fullmatch(r"styles\.0\.convs\.\d+\.weight", k))
    except KeyError as err:
        raise CheckpointError(f"{name}: encoder is missing key {err.args[0]!r}") from None
    if len(widths) != 4 or n_styles < 2 or n_styles % 2:
        raise CheckpointError(f"{name}: encoder layout not recognised ({len(widths)} stages, {n_styles} styles)")
    return EncoderConfig(stylegan_size=2 ** ((n_styles + 2) // 2), style_dim=int(style_dim), widths=tuple(widths),
                         units=tuple(units), use_se="body.0.res_layer.5.fc1.weight" in state,
                         input_size=16 * 2 ** coarse_convs)


def _load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], name: str, prefix: str) -> None:
    expected = module.state_dict()
    missing = [prefix + k for k in expected if k not in state]
    unexpected = [prefix + k for k in state if k not in expected]
    if missing:
        raise CheckpointError(f"{name}: missing keys {_first(missing)}")
    if unexpected:
        raise CheckpointError(f"{name}: unexpected keys {_first(unexpected)}")
    wrong = [f"{prefix}{k} {list(state[k].shape)} (expected {list(v.shape)})"
             for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(f"{name}: wrong shapes: {_first(wrong, 2)}")
    converted = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{name}: {prefix}{k} is not a tensor")
        if v.is_complex():  # .to(float32) would drop the imaginary part with a warning, and go on
            raise CheckpointError(f"{name}: {prefix}{k} is {str(v.dtype).replace('torch.', '')}, not real weights")
        # Float32 whatever torch's default dtype: a caller's `torch.set_default_dtype(torch.float64)` made the
        # networks float64 here, and the first float32 code failed inside torch ("expected scalar type Float but
        # found Double").
        target = torch.float32 if expected[k].is_floating_point() else expected[k].dtype
        converted[k] = v if v.dtype == target else v.to(target)
    module.load_state_dict(converted, strict=True, assign=True)


@dataclass
class E4EModel:
    """A loaded checkpoint: the generator, the encoder (None for generator-only files) and latent_avg.

    `latent_avg` is `[n_latent, style_dim]` (a rosinality `[style_dim]` vector is repeated) and
    is added to the encoder output when `start_from_latent_avg` is set, as e4e does.
    """

    generator: Generator
    encoder: Encoder4Editing | None
    latent_avg: torch.Tensor | None
    start_from_latent_avg: bool = True
    source: str = ""
    layout: str = "e4e"
    meta: dict = field(default_factory=dict)

    @property
    def n_latent(self) -> int:
        return self.generator.n_latent

    @property
    def style_dim(self) -> int:
        return self.generator.style_dim

    @property
    def size(self) -> int:
        return self.generator.size

    @property
    def encoder_input_size(self) -> int:
        return self.encoder.config.input_size if self.encoder is not None else 256

    @torch.inference_mode(False)  # normal tensors, as `load_model` makes them, whatever mode the caller is in
    def to(self, device) -> E4EModel:
        self.generator.to(device)
        if self.encoder is not None:
            self.encoder.to(device)
        if self.latent_avg is not None:
            self.latent_avg = self.latent_avg.to(device)
        return self

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed images `[B, 3, S, S]` -> W+ codes `[B, n_latent, D]` (latent_avg included)."""
        if self.encoder is None:
            raise CheckpointError(f"{self.source}: this checkpoint has no encoder (generator only); "
                                  "use an e4e checkpoint to encode images", path=self.source)
        codes = self.encoder(x)
        if self.start_from_latent_avg and self.latent_avg is not None:
            codes = codes + self.latent_avg
        return codes

    @torch.inference_mode(False)  # the copies stay normal tensors (see `load_model`), whatever mode the caller is in
    def drop_encoder(self) -> None:
        """Free the encoder once every input is encoded: rendering never needs it.

        Every tensor views the one memory-mapped checkpoint, so the encoder's pages would stay
        resident while rendering; copying the (smaller) generator out of the mapping lets the
        whole mapping go (measured: end-to-end peak RSS 2098 -> 1673 MB at 1024).
        """
        import gc
        import weakref

        held = weakref.ref(self.encoder) if self.encoder is not None else None
        self.encoder = None
        for t in list(self.generator.parameters()) + list(self.generator.buffers()):
            t.data = t.data.clone()
        if self.latent_avg is not None:
            self.latent_avg = self.latent_avg.clone()
        # A full collection only where a reference cycle still holds the encoder: a morph's own encoder is
        # freed by its last reference going, and a full collection walks every object of the process, which
        # in a Python caller's (not frozen as the CLI's own is) cost ~0.1 s per morph (benchmarks/README.md).
        if held is not None and held() is not None:
            gc.collect()

    def average_w(self) -> torch.Tensor:
        """The generator's average W `[style_dim]` (truncation target)."""
        if self.latent_avg is not None:
            return self.latent_avg.mean(0) if self.latent_avg.ndim == 2 else self.latent_avg
        return self.generator.mean_latent()


def load_model(path: str | Path, *, with_encoder: bool = True, name: str | None = None) -> E4EModel:
    """Read an e4e or rosinality checkpoint and build the networks it describes (eval mode, CPU).

    Raises CheckpointError with one line naming the file and the first offending keys when
    the file is not a checkpoint, is truncated, or has missing/unexpected/mis-shaped keys.
    `name` is how those lines (and `source`) name the file: default its base name.
    """
    path = Path(path)
    try:
        # Normal tensors even inside a caller's `with torch.inference_mode():`: inference tensors keep no version
        # counter (`ModulatedConv2d.weight_sq`'s cache key) and cannot be tuned, so every render failed in torch.
        with torch.inference_mode(False):
            return _load_model(path, with_encoder=with_encoder, name=name or path.name)
    except CheckpointError as err:  # the file at fault (`err.path`, --json's "path"), named as the lines name it
        err.path = name or os.fspath(path)
        raise


def _load_model(path: Path, *, with_encoder: bool, name: str) -> E4EModel:
    data = read_checkpoint_file(path, name=name)
    opts = data.get("opts") if isinstance(data.get("opts"), dict) else {}
    interp_meta = opts.get("interp", {}) if isinstance(opts.get("interp"), dict) else {}

    if isinstance(data.get("state_dict"), dict):
        layout = "e4e"
        state = data["state_dict"]
        _refuse_non_tensors(state, name, "")
        dec_prefix = "decoder."
        enc_state = _prefixed(state, "encoder.")
        stray = [k for k in state if not k.startswith(("encoder.", "decoder."))]
        if stray:
            raise CheckpointError(f"{name}: unexpected keys {_first(stray)}")
        if not enc_state:
            raise CheckpointError(f"{name}: e4e checkpoint without encoder.* keys")
    elif isinstance(data.get("g_ema"), dict):
        layout = "rosinality"
        state = data["g_ema"]
        _refuse_non_tensors(state, name, "g_ema.")
        dec_prefix = ""
        enc_state = {}
    elif (held := next((key for key in ("state_dict", "g_ema") if key in data), None)) is not None:
        raise CheckpointError(f"{name}: its {held} is {type(data[held]).__name__}, not a dict of tensors")
    else:
        top = ", ".join(sorted(map(str, data.keys()))[:5]) or "nothing"
        raise CheckpointError(f"{name}: not an e4e or StyleGAN2 checkpoint (top-level keys: {top})")

    dec_state = _prefixed(state, dec_prefix) if dec_prefix else dict(state)
    if not dec_state:
        raise CheckpointError(f"{name}: checkpoint has no generator (decoder.*) keys")
    gen_config = infer_generator_config(dec_state, name)
    if isinstance(interp_meta.get("generator"), dict):  # interp's own record of how it trained the file
        gen_config.lr_mlp = _option(interp_meta["generator"].get("lr_mlp", gen_config.lr_mlp), float, name,
                                    "interp.generator.lr_mlp")
    with torch.device("meta"):
        generator = Generator(gen_config)
    _load_strict(generator, dec_state, name, "decoder." if layout == "e4e" else "g_ema.")
    generator.eval().requires_grad_(False)

    encoder = None
    if layout == "e4e" and with_encoder:
        enc_config = infer_encoder_config(enc_state, name)
        size = opts.get("stylegan_size")
        if size is not None and _option(size, float, name, "stylegan_size") != enc_config.stylegan_size:
            raise CheckpointError(f"{name}: opts say stylegan_size {size} but the encoder has "
                                  f"{enc_config.n_styles} styles")
        if enc_config.n_styles != generator.n_latent:
            raise CheckpointError(f"{name}: encoder makes {enc_config.n_styles} styles, generator takes "
                                  f"{generator.n_latent}")
        with torch.device("meta"):
            encoder = Encoder4Editing(enc_config)
        _load_strict(encoder, enc_state, name, "encoder.")
        encoder.eval().requires_grad_(False)

    latent_avg = data.get("latent_avg")
    if latent_avg is not None:
        if (not isinstance(latent_avg, torch.Tensor) or latent_avg.ndim == 0
                or latent_avg.shape[-1] != generator.style_dim):
            raise CheckpointError(f"{name}: latent_avg has the wrong shape")
        latent_avg = latent_avg.float()
        if latent_avg.ndim == 1:
            latent_avg = latent_avg.expand(generator.n_latent, -1)
        if latent_avg.shape != (generator.n_latent, generator.style_dim):
            raise CheckpointError(f"{name}: latent_avg is {list(latent_avg.shape)}, expected "
                                  f"[{generator.n_latent}, {generator.style_dim}]")
    if not passed_check(path, FINITE_CHECK):
        _refuse_non_finite({**{("" if layout == "e4e" else "g_ema.") + k: v for k, v in state.items()},
                            "latent_avg": data.get("latent_avg")}, name)
        remember_check(path, FINITE_CHECK)
    start = _option(opts.get("start_from_latent_avg", True), bool, name, "start_from_latent_avg")
    return E4EModel(generator=generator, encoder=encoder, latent_avg=latent_avg, start_from_latent_avg=start,
                    source=name, layout=layout, meta=dict(interp_meta))


def build_state_dict_shapes(gen_config: GeneratorConfig, enc_config: EncoderConfig | None) -> dict[str, torch.Tensor]:
    """The full checkpoint state dict (e4e key names) as meta tensors: for layout checks without memory."""
    with torch.device("meta"):
        generator = Generator(gen_config)
        encoder = Encoder4Editing(enc_config) if enc_config is not None else None
    out = {}
    if encoder is not None:
        out.update({"encoder." + k: v for k, v in encoder.state_dict().items()})
    out.update({"decoder." + k: v for k, v in generator.state_dict().items()})
    return out


def save_e4e_checkpoint(path: str | Path, generator: Generator, encoder: Encoder4Editing,
                        latent_avg: torch.Tensor, meta: dict | None = None) -> None:
    """Write networks in the e4e layout that `load_model` (and e4e's own loader) reads."""
    state = {"encoder." + k: v for k, v in encoder.state_dict().items()}
    state.update({"decoder." + k: v for k, v in generator.state_dict().items()})
    opts = {"encoder_type": "Encoder4Editing", "stylegan_size": generator.size, "start_from_latent_avg": True}
    if meta:
        opts["interp"] = meta
    torch.save({"state_dict": state, "latent_avg": latent_avg.detach().float().cpu(), "opts": opts}, str(path))
