#!/bin/bash
# The prepared GPU check of issue 33 (benchmarks/device_check.py): generator sweep, CLI end to end,
# batch throughput, each mode against strict fp32, as markdown tables. Under 8 minutes on one GPU;
# on a machine without CUDA it says so and exits 0. Extra arguments go to device_check.py
# (--dry-run: toy sizes on the CPU, to check the script).
#
# The MP4 writer needs imageio-ffmpeg: where it is missing and .whl/ holds its wheel (see
# benchmarks/README.md), it is installed into /tmp/site first.
set -u
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
if ! "$PY" -c "import imageio_ffmpeg" 2>/dev/null; then
    if ls .whl/imageio_ffmpeg-*.whl >/dev/null 2>&1; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
            .whl/imageio_ffmpeg-*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    else
        echo "device check: imageio-ffmpeg is not installed and .whl/ has no wheel of it: the CLI steps will fail" >&2
    fi
fi
export PYTHONUNBUFFERED=1
out=${OUT:-}
exec timeout 470 "$PY" benchmarks/device_check.py ${out:+--out "$out"} "$@"
