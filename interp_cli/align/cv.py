"""OpenCV's `cv2` module, imported for interp without the change that import makes to the caller's environment."""

from __future__ import annotations

import os
import sys
from types import ModuleType


def opencv() -> ModuleType:
    """`import cv2`, then `os.environ["LD_LIBRARY_PATH"]` put back as it was before that first import.

    opencv-python's loader prepends its wheel's `lib64` folder to LD_LIBRARY_PATH, "for sub-processes only"
    (its own comment): the module is loaded by then, and interp's children (ffmpeg, a photo's decoder) need no
    OpenCV libraries. Left there it outlived the call in a Python caller's process, and with nothing set before it
    ended in an empty entry (`.../lib64:`), which the dynamic loader reads as the current directory: every later
    child of that process, interp's ffmpeg included, looked for its shared libraries in whatever folder it ran in.
    A process that imported cv2 itself keeps what its own import did. Raises ImportError as the import does.
    """
    if sys.modules.get("cv2") is not None:  # None there (a test hiding OpenCV): the import below raises
        return sys.modules["cv2"]
    before = os.environ.get("LD_LIBRARY_PATH")
    try:
        import cv2
    finally:
        if os.environ.get("LD_LIBRARY_PATH") != before:
            if before is None:
                os.environ.pop("LD_LIBRARY_PATH", None)
            else:
                os.environ["LD_LIBRARY_PATH"] = before
    return cv2
