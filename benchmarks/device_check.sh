#!/bin/bash
# The prepared GPU check of issue 33 (benchmarks/device_check.py): CLI end to end, batch throughput,
# --tune, then the generator sweep (each mode against strict fp32) and torch.compile, as markdown
# tables. Under 8 minutes on one GPU; on a machine without CUDA it says so and exits 0. Extra
# arguments go to device_check.py (--dry-run: toy sizes on the CPU, to check the script).
#
# The MP4 writer needs imageio-ffmpeg: where it is missing and .whl/ holds its wheel (see
# benchmarks/README.md), it is installed into /tmp/site first. Where that cannot be done (no wheel,
# no pip, a failed install), the reason goes into the report as one line and the CLI steps write
# PNG frames to a folder instead of MP4 (device_check.py; every other step is unaffected).
set -u
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
why=""
if ! "$PY" -c "import imageio_ffmpeg" 2>/dev/null; then
    if ! ls .whl/imageio_ffmpeg-*.whl >/dev/null 2>&1; then
        why="imageio-ffmpeg is not installed and .whl/ holds no wheel of it (carry=[\".whl\"], see benchmarks/README.md)"
    elif ! "$PY" -m pip --version >/dev/null 2>&1; then
        why="imageio-ffmpeg is not installed and this Python has no pip to install .whl/'s wheel"
    elif "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
            .whl/imageio_ffmpeg-*.whl >/dev/null 2>&1; then
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
        "$PY" -c "import imageio_ffmpeg" 2>/dev/null \
            || why="imageio-ffmpeg was installed from .whl/ into /tmp/site but cannot be imported"
    else
        why="imageio-ffmpeg is not installed and pip could not install .whl/'s wheel"
    fi
fi
export DEVICE_CHECK_FFMPEG=$why  # empty: device_check.py finds the writer itself, or says what it lacks
export PYTHONUNBUFFERED=1
out=${OUT:-}
exec timeout 470 "$PY" benchmarks/device_check.py ${out:+--out "$out"} "$@"
