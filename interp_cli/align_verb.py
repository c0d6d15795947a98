"""`interp align` (`pipeline.align`): FFHQ-align one face of a photo and write the crop, without torch.

Its own module because everything else in `interp_cli.pipeline` needs torch, whose import (1.2-1.8 s on
a 2-core CPU) would otherwise be most of the command's time: alignment runs on numpy, OpenCV and dlib.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from interp_cli import output_paths, write
from interp_cli.checks import check_function, check_number, check_paths
from interp_cli.errors import NoFaceError, UsageError, no_face_advice_align, option
from interp_cli.images import load_image
from interp_cli.inputs import check_inputs
from interp_cli.limits import ALIGN_SIZE
from interp_cli.progress import Log, python_log


def align(image: str | os.PathLike, output: str | os.PathLike, *, face: int | None = None, size: int = 1024,
          log: Log = python_log) -> dict:
    """FFHQ-align the chosen face of an image and write the square crop. `log` and errors as for `pipeline.morph`
    (`NoFaceError` for an image without a face). Returns the summary `interp align --json` prints."""
    from interp_cli import align as alignment

    check_paths(image=image, output=output)
    check_function("log", log)
    path = check_inputs([image], [output])[0]
    output_paths.output_kind(output, "the aligned face is written as .png", allowed=("png",))
    output_paths.check_output_path(output)
    size = check_number("size", size, *ALIGN_SIZE, integer=True)
    if face is not None and (isinstance(face, bool) or not isinstance(face, numbers.Integral)):
        raise UsageError(f"{option('face', face)}: give a face number (0 = leftmost) or None for the largest")
    if face is not None:  # before the photo is read and searched (a face=-1 was refused after, or as "no face found")
        face = check_number("face", face, low=0, integer=True)
    alignment.require_alignment("interp align")
    # The photo as the array alignment searches, the PIL image gone before the search starts: passed as the image,
    # both were held to the end (3 bytes a pixel more at the peak, 300 MB at 100 MP), as the morph once did.
    photo = np.asarray(load_image(path, log=log))
    try:
        result = alignment.align_face(photo, output_size=size, face=face, name=str(path), log=log)
    except NoFaceError as err:
        raise err.advised(no_face_advice_align()) from None
    for warning in result.warnings:
        log(f"warning: {warning}")  # each names its image (and face)
    write.write_image(output, np.asarray(result.image.convert("RGB")))
    return {"output": str(output), "faces": result.n_faces, "face": result.face_index,
            "quad": np.asarray(result.quad).round(2).tolist()}
