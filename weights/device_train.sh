#!/usr/bin/env bash
# Everything a session lent a CUDA machine should run there, as one prepared call that fits the
# 15 minutes of device time (see weights/README.md, "On a GPU"):
#
#   run(command="bash weights/device_train.sh", timeout_s=580)
#
# 1. the GPU benchmark (benchmarks/bench_gpu.py, capped at 2 minutes);
# 2. the demo training for $MINUTES (default 6): by default the shipped model continued with run 3's
#    recipe ramped in over 300 steps (no discriminator, the features weighted 10x: on the CPU the
#    discriminator bought its sharpness with halos, see weights/README.md) and larger batches than the
#    CPU's; $TRAIN_ARGS replaces those choices, e.g. TRAIN_ARGS="--channels 4:256,8:256,16:256,32:128,64:64
#    --feature-weight 9" trains a wider generator from scratch (stage A then B), which only a GPU can
#    do in minutes, and "--init interp_cli/data/demo.pt --adv-weight 0.05 --feature-weight 9" tries
#    the discriminator again;
# 3. the issue-19 goal metrics of the result through the CLI (weights/eval_demo.py).
#
# Results go to $OUT (the device tool's folder; out/device when run by hand): bench/ (the GPU
# benchmark's JSON and kernel profiles), train.log, demo.pt + demo.json (the candidate model), quick.png (the in-training
# curve) and eval.json. Every step
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
    mkdir -p "$out/bench"  # bench_gpu.json and a kernel profile per size (the tool brings back 8 files)
    step timeout 120 "$py" benchmarks/bench_gpu.py --device cuda --quick --json "$out/bench/bench_gpu.json"
fi
# Batches of 64: a GPU step costs about the same as one of 16, so four times the faces per minute.
train_args=${TRAIN_ARGS:---init interp_cli/data/demo.pt --lr-g 1e-3 --lr-e 5e-4 --adv-weight 0 --feature-weight 9 --lr-warmup 300}
# shellcheck disable=SC2086  # TRAIN_ARGS is a list of options
step "$py" -m weights.train_demo --device "$device" --minutes "$minutes" --threads 8 --workers 16 \
    --batch-g 64 --batch-e 128 --batch-b 64 --save-every 1 --snapshots "$out/snapshots" \
    --out "$out/demo.pt" --log "$out/train.log" $train_args
step "$py" -m weights.eval_demo --curve "$out/snapshots" --from-log
[ ! -f "$out/snapshots/quick.png" ] || cp "$out/snapshots/quick.png" "$out/"
rm -f "$out/demo.state.pt"  # 84 MB, over what the device tool brings back; demo.pt is the result
step "$py" -m weights.eval_demo --weights "$out/demo.pt" --cli-n 48 --n 200 > "$out/eval.json"
# The snapshots' quick metrics (validation faces) are in train.log; only the final model comes back.
rm -rf "$out/snapshots"
exit "$status"
