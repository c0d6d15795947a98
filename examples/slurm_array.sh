#!/usr/bin/env bash
# One manifest over a Slurm job array: each array task makes its own slice of the rows.
#
#   sbatch --array=1-8 examples/slurm_array.sh pairs.csv out/     # 8 workers
#   sbatch --array=1-8 examples/slurm_array.sh pairs.csv out/     # again: finishes what is missing
#
# `--shard auto` reads the task's place in the array ($SLURM_ARRAY_TASK_ID, _MIN, _COUNT, _STEP), so
# --array=1-8, 0-7 or 1-15:2 all work; row i goes to task ((i-1) mod 8)+1. `--skip-existing` makes a
# resubmission (after a failure, a time limit or a pre-emption) redo only the rows whose output is
# missing: outputs are written atomically, so an interrupted row leaves nothing behind.
#
# Environment: INTERP (the command, default `interp`), WEIGHTS (default: $INTERP_WEIGHTS, else ffhq;
# a compute node without internet needs a path: --weights /shared/e4e_ffhq_encode.pt), STEPS (60),
# EXTRA (more morph options, e.g. "--size 512 --loop"), INTERP_CACHE_DIR (the latent cache; tasks
# may share one on a shared file system: entries are renamed into place whole).
# Each task's JSON lines (one per row, then a summary) go to logs/interp-<job>_<task>.jsonl.
#
#SBATCH --job-name=interp-batch
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=12:00:00
#SBATCH --requeue
#SBATCH --output=logs/interp-%A_%a.out
# --requeue: a pre-empted task is put back in the queue and, with --skip-existing, resumes.

set -u -o pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: sbatch --array=1-N $0 MANIFEST.csv OUTDIR" >&2
    exit 2
fi
manifest=$1 outdir=$2
read -r -a interp_cmd <<< "${INTERP:-interp}"
read -r -a extra <<< "${EXTRA:-}"
weights=()
[[ -n "${WEIGHTS:-}" ]] && weights=(--weights "$WEIGHTS")

# One thread per allocated core: PyTorch would otherwise start one per core of the whole node.
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
mkdir -p logs
log="logs/interp-${SLURM_ARRAY_JOB_ID:-local}_${SLURM_ARRAY_TASK_ID:-0}.jsonl"

"${interp_cmd[@]}" batch "$manifest" --outdir "$outdir" --shard auto --skip-existing \
    --steps "${STEPS:-60}" ${weights[@]+"${weights[@]}"} ${extra[@]+"${extra[@]}"} --json > "$log"
rc=$?

case $rc in
    0)
        echo "task ${SLURM_ARRAY_TASK_ID:-?}: all rows made or already there ($(tail -n 1 "$log"))" ;;
    1)
        echo "task ${SLURM_ARRAY_TASK_ID:-?}: some rows failed; their reasons are the \"error\" fields in $log." \
             "Fix them and resubmit the same array: finished rows are skipped." >&2 ;;
    2)
        # A usage error (bad option, manifest, duplicate output names) fails every task the same way.
        echo "task ${SLURM_ARRAY_TASK_ID:-?}: usage error (see above); cancelling the rest of the array" >&2
        [[ -n "${SLURM_ARRAY_JOB_ID:-}" ]] && scancel "$SLURM_ARRAY_JOB_ID" ;;
    130 | 143)
        echo "task ${SLURM_ARRAY_TASK_ID:-?}: stopped (exit $rc: time limit or pre-emption);" \
             "resubmit the same array to finish (or it is requeued)" >&2 ;;
    *)
        echo "task ${SLURM_ARRAY_TASK_ID:-?}: unexpected exit $rc" >&2 ;;
esac
exit "$rc"
