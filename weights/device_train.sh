#!/usr/bin/env bash
# Everything a session lent a CUDA machine should run there, as one prepared call that fits the
# 15 minutes of device time (see weights/README.md, "On a GPU"):
#
#   run(command="bash weights/device_train.sh", timeout_s=580)
#
# 1. the GPU benchmark (benchmarks/bench_gpu.py, capped at 2 minutes);
# 2. the demo training, continued from the shipped model for $MINUTES (default 6) with the
#    discriminator on and larger batches than the CPU recipe, snapshots kept for the curve;
# 3. the issue-19 goal metrics of the result through the CLI (weights/eval_demo.py).
#
# Results go to $OUT (the device tool's folder; out/device when run by hand): gpu.txt,
# bench_gpu.json, train.log, demo.pt + demo.json (the candidate model) and eval.json. Every step
# runs even when an earlier one failed, and the exit code is the first failure's.
# On a machine without CUDA: DEVICE=cpu MINUTES=0.3 bash weights/device_train.sh checks the script.
set -u
out=${OUT:-out/device}
py=${PYTHON:-python3}
minutes=${MINUTES:-6}
device=${DEVICE:-cuda}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
status=0
step() { "$@" || { rc=$?; echo "device_train: '$*' failed with $rc" >&2; [ "$status" -ne 0 ] || status=$rc; }; }

if [ "$device" = cuda ]; then
    step nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv -f "$out/gpu.txt"
    step timeout 120 "$py" benchmarks/bench_gpu.py --device cuda --quick --json "$out/bench_gpu.json"
fi
# Batches of 64: a GPU step costs about the same as one of 16, so four times the faces per minute.
step "$py" -m weights.train_demo --device "$device" --init interp_cli/data/demo.pt --minutes "$minutes" \
    --threads 8 --batch-b 64 --adv-weight 0.02 --save-every 1 --snapshots "$out/snapshots" \
    --out "$out/demo.pt" --log "$out/train.log"
rm -f "$out/demo.state.pt"  # 84 MB, over what the device tool brings back; demo.pt is the result
step "$py" -m weights.eval_demo --weights "$out/demo.pt" --cli-n 48 --n 200 > "$out/eval.json"
# The snapshots' quick metrics (validation faces) are in train.log; only the final model comes back.
rm -rf "$out/snapshots"
exit "$status"
