#!/usr/bin/env bash
# One manifest over a Slurm job array: each array task makes its own slice of the rows.
#
#   sbatch --array=1-8 examples/slurm_array.sh pairs.csv out/     # 8 workers: task K makes shard K of 8
#   sbatch --array=1-8 examples/slurm_array.sh pairs.csv out/     # again: finishes what is missing
#   sbatch --array=2,5 --export=ALL,SHARDS=8 examples/slurm_array.sh pairs.csv out/   # redo tasks 2 and 5 of 8
#
# `--shard auto` reads the task's place in the array ($SLURM_ARRAY_TASK_ID, _MIN, _COUNT, _STEP), so
# --array=1-8, 0-7 or 1-15:2 all work; row i goes to task ((i-1) mod 8)+1. To rerun only some tasks
# (any list Slurm takes: 2,5 or 3-8 or 1,4-6), say how many shards the first submission had with
# SHARDS=N: the task IDs are then the shard numbers, so number that first array from 1 (--array=1-N).
# Without SHARDS, --array=5 alone (one task past 1: a redo) is refused, not run as one worker over every row.
# `--skip-existing` makes a resubmission (after a failure, a time limit or a pre-emption) redo only the
# rows whose output is missing: outputs are written atomically, so an interrupted row leaves nothing.
#
# Environment: INTERP (the command, default `interp`), WEIGHTS (default: $INTERP_WEIGHTS, else ffhq;
# a compute node without internet needs a path: --weights /shared/e4e_ffhq_encode.pt), STEPS (60),
# EXTRA (more morph options, e.g. "--size 512 --loop"), SHARDS (above), INTERP_CACHE_DIR (the latent
# cache; tasks may share one on a shared file system: entries are renamed into place whole).
#
# Logs: Slurm's own file is interp-batch-<job>_<task>.out in the folder you submitted from (Slurm opens
# it before this script runs, so it must be a folder that exists); it gets one line per attempt and is
# appended to, not replaced, when a task is requeued. Each attempt's messages and JSON lines (one per
# row, then a summary) go to logs/interp-<job>_<task>-<attempt>.log and .jsonl, attempt 0 first, then
# 1, 2 ... ($SLURM_RESTART_COUNT) after each requeue.
#
# Stopping: at the time limit, on scancel or on pre-emption, Slurm sends SIGTERM to every process of
# the task, waits KillWait (30 s by default) and then kills. interp finishes nothing half-way: it drops
# the row in progress, writes the summary line and exits 143; this script reports it and exits 143.
# Over --mem, the out-of-memory killer ends interp at once (exit 137, its logs just end): this script
# says so; raise --mem and resubmit.
#
#SBATCH --job-name=interp-batch
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=12:00:00
#SBATCH --requeue
#SBATCH --output=%x-%A_%a.out
#SBATCH --open-mode=append
# --requeue: a pre-empted task is put back in the queue and, with --skip-existing, resumes.

set -u -o pipefail

if [[ $# -ne 2 ]]; then
    # Under sbatch, $0 is Slurm's copy of this script, gone when the task ends: name the file submitted instead
    # (scontrol's Command=, which is that file and then the arguments given; the first task's, for an array's ID).
    me=$([[ -n ${SLURM_JOB_ID:-} ]] && scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n '/^ *Command=/{s///p;q}')
    me=${me%" $*"}
    echo "usage: sbatch --array=1-N $(printf %q "${me:-$0}") MANIFEST.csv OUTDIR" >&2
    exit 2
fi
manifest=$1 outdir=$2
read -r -a interp_cmd <<< "${INTERP:-interp}"
read -r -a extra <<< "${EXTRA:-}"
weights=()
[[ -n "${WEIGHTS:-}" ]] && weights=(--weights "$WEIGHTS")
task=${SLURM_ARRAY_TASK_ID:-0}
attempt=${SLURM_RESTART_COUNT:-0}

# One thread per allocated core: PyTorch would otherwise start one per core of the whole node.
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
mkdir -p logs || exit 1
base="logs/interp-${SLURM_ARRAY_JOB_ID:-local}_${task}-${attempt}"
echo "task $task, attempt $attempt on $(hostname) at $(date -u +%FT%TZ): messages in $base.log, rows in $base.jsonl"

# In the background, so that a SIGTERM sent to this shell alone (scancel --batch, --signal=B:TERM@60)
# is passed on; when Slurm signals every process, interp already has it and the trap changes nothing.
"${interp_cmd[@]}" batch "$manifest" --outdir "$outdir" --shard "auto${SHARDS:+/$SHARDS}" --skip-existing \
    --steps "${STEPS:-60}" ${weights[@]+"${weights[@]}"} ${extra[@]+"${extra[@]}"} --json \
    > "$base.jsonl" 2> "$base.log" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
wait "$pid"
rc=$?
while kill -0 "$pid" 2>/dev/null; do  # `wait` returned early for the trap: wait for interp's own status
    wait "$pid"
    rc=$?
done

case $rc in
    0)
        # A row another live worker was making (a second array or resubmission on this OUTDIR, a requeued task's
        # first copy) is skipped, not waited for: it is not there yet, and that worker may still fail it.
        elsewhere=$(grep -c '"claimed_elsewhere": true' "$base.jsonl")
        if ((elsewhere)); then
            echo "task $task: rows made or already there, but $elsewhere left to another worker making them just then" \
                 "(not waited for); once it ends, resubmit the same array to make any it did not" \
                 "($(tail -n 1 "$base.jsonl"))"
        else
            echo "task $task: all rows made or already there ($(tail -n 1 "$base.jsonl"))"
        fi ;;
    1)
        # The JSON log always ends with a summary; it carries "error" when an error stopped the whole batch
        # (unusable weights, a full disk) rather than rows failing one by one.
        summary=$(tail -n 1 "$base.jsonl")
        if [[ $summary == *'"summary": true'* && $summary == *'"error": '* ]]; then
            error=$(tail -n 1 "$base.log")
            # interp's advice for unusable weights is "pass --weights ...", which this script sets itself from WEIGHTS.
            if [[ $error == *"--weights"* ]]; then
                error+=" (this script passes --weights \$WEIGHTS: submit with --export=ALL,WEIGHTS=PATH, or WEIGHTS=demo)"
            fi
            echo "task $task: stopped by an error before its last row: $error." \
                 "Fix it and resubmit the same array: finished rows are skipped."
        else
            # How many, from the summary: a task of 1,000 rows with 2 failed says so in its .out, at once.
            counted="some rows"
            failed_n=$(sed -n 's/.*"failed": \([0-9]*\).*/\1/p' <<<"$summary")
            rows_n=$(sed -n 's/.*"rows": \([0-9]*\).*/\1/p' <<<"$summary")
            [[ -n $failed_n && -n $rows_n ]] && counted="$failed_n of $rows_n rows"
            echo "task $task: $counted failed; their reasons are the \"error\" fields in $base.jsonl." \
                 "Fix them and resubmit the same array: finished rows are skipped."
        fi ;;
    2)
        # A usage error (bad option, manifest, duplicate output names) fails every task the same way: the tasks
        # still pending are cancelled, those running meet it too. Not the whole array: this task would cancel
        # itself, and sacct would show the one that found the error CANCELLED, not FAILED with exit code 2.
        error=$(tail -n 1 "$base.log")
        # interp's advice for --shard names its option, which this script sets itself: say this script's word.
        if [[ $error == *"'--shard'"* ]]; then
            error+=" (this script passes --shard auto${SHARDS:+/$SHARDS}; for N shards submit with --export=ALL,SHARDS=N)"
        fi
        echo "task $task: usage error: $error; cancelling the array's pending tasks"
        [[ -n "${SLURM_ARRAY_JOB_ID:-}" ]] && scancel --state=PENDING "$SLURM_ARRAY_JOB_ID" ;;
    130 | 143)
        echo "task $task: stopped (exit $rc: time limit, scancel or pre-emption); resubmit the same" \
             "array to finish (a pre-empted task is requeued by itself)" ;;
    137)
        # SIGKILL with the task still alive: most often the memory limit's out-of-memory killer (Slurm then
        # says OUT_OF_MEMORY in sacct). Nothing of interp's is in the logs: it had no moment to write.
        echo "task $task: killed (exit 137, SIGKILL), most often for using more than --mem; raise --mem and" \
             "resubmit the same array to finish (finished rows are skipped)" ;;
    *)
        echo "task $task: unexpected exit $rc; see $base.log" ;;
esac | tee -a "$base.log"
exit "$rc"
