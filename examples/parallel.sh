#!/usr/bin/env bash
# One manifest over N workers on one machine (or several, with parallel's --sshlogin) with GNU parallel.
#
#   examples/parallel.sh pairs.csv out/ [N]      # N workers, default: one per 4 cores
#
# What does the work, for K = 1 ... N at once:
#
#   interp batch pairs.csv --outdir out/ --shard K/N --skip-existing --json > $LOGS/shard-K.jsonl
#
# Worker k makes rows k, k+N, k+2N, ... of the manifest; `--skip-existing` makes a second run (after
# a failure, Ctrl-C or a reboot) redo only the rows whose output is missing. Each worker's JSON lines
# (one per row, then a summary) go to $LOGS/shard-K.jsonl; each run first removes the previous run's
# shard-*.jsonl (a run with fewer workers would otherwise leave stale ones beside its own), as parallel
# itself replaces the joblog.
#
# Environment: INTERP (the command, default `interp`), WEIGHTS, STEPS (60), EXTRA (more morph
# options), LOGS (default logs/parallel), INTERP_CACHE_DIR (shared by the workers; safe).
#
# Exit status: 0 if every worker finished its rows; 2 if the batch itself is wrong (usage error: every
# worker refuses it alike); 130 if the run or a worker was stopped (Ctrl-C, SIGTERM); else 1 if any row
# failed, an error stopped a worker (unusable weights, a full disk: its log's summary line carries it as
# "error"), or a worker was killed (SIGKILL, most often by the out-of-memory killer: its log just ends).
# The joblog says which worker did what; running this script again (--skip-existing) redoes only what is
# missing.

set -u -o pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 MANIFEST.csv OUTDIR [WORKERS]" >&2
    exit 2
fi
manifest=$1 outdir=$2
cores=$(nproc)
n=${3:-$(( cores >= 8 ? cores / 4 : 1 ))}
if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
    echo "$0: WORKERS must be a positive whole number, got '$n'" >&2
    exit 2
fi
logs=${LOGS:-logs/parallel}
mkdir -p "$logs" || exit 1
rm -f "$logs"/shard-*.jsonl

# Share the cores out: N workers with one thread per core each would fight over the caches.
export OMP_NUM_THREADS=$(( cores / n > 0 ? cores / n : 1 ))

# Ctrl-C reaches parallel, not the workers (it runs each in a process group of its own); parallel then
# stops them with its --termseq. Its default sends TERM, TERM 200 ms later, and KILL 375 ms in: a worker
# in the middle of a long render would be killed before it removed its temp file. One TERM and 30 s
# (Slurm's default grace too) lets every worker finish its frame and clean up; a hung one is still killed.
#
# parallel hands each job to a shell as one line of text, so a path written into that text is split at its
# spaces, and its quotes or $(...) are read as shell code. The text is fixed instead ("shard 3"), and the
# worker takes every value from the environment (--env passes them on to --sshlogin hosts too).
shard() {
    local interp extra weights=()
    read -r -a interp <<< "${INTERP:-interp}"  # INTERP and EXTRA are word lists on purpose
    read -r -a extra <<< "${EXTRA:-}"
    [[ -n "${WEIGHTS:-}" ]] && weights=(--weights "$WEIGHTS")
    exec "${interp[@]}" batch "$BATCH_MANIFEST" --outdir "$BATCH_OUTDIR" --shard "$1/$BATCH_WORKERS" \
        --skip-existing --steps "${STEPS:-60}" ${weights[@]+"${weights[@]}"} ${extra[@]+"${extra[@]}"} \
        --json --quiet > "$BATCH_LOGS/shard-$1.jsonl"
}
export -f shard
export BATCH_MANIFEST=$manifest BATCH_OUTDIR=$outdir BATCH_LOGS=$logs BATCH_WORKERS=$n PARALLEL_SHELL=bash
seq 1 "$n" | parallel --jobs "$n" --termseq TERM,30000,KILL,25 --joblog "$logs/joblog" --line-buffer \
    --env shard --env BATCH_MANIFEST --env BATCH_OUTDIR --env BATCH_LOGS --env BATCH_WORKERS --env INTERP \
    --env WEIGHTS --env STEPS --env EXTRA shard {}
parallel_rc=$?

# The joblog has a line per worker that ran (7th column: its exit status, 8th: the signal that killed it, when
# the status is then 0; last: the shard number).
clean=$(awk 'NR > 1 && $7 == 0 && $8 == 0' "$logs/joblog" | wc -l)
codes=$(awk 'NR > 1 && $8 == 0 {print $7}' "$logs/joblog" | sort -u | tr '\n' ' ')
killed=$(awk 'NR > 1 && $8 != 0 {printf "%s%s (signal %s)", sep, $NF, $8; sep = ", "}' "$logs/joblog")
echo "workers: $n, exit codes: ${codes:-none}${killed:+; killed: $killed}; per-row results in $logs/shard-*.jsonl"
if ((clean == n && parallel_rc == 0)); then
    exit 0
elif [[ " $codes " == *" 2 "* ]]; then
    echo "usage error: see the messages above" >&2
    exit 2
fi
# parallel's own status counts failed workers only up to 100, and is 255 when it was itself stopped.
# A worker that exited 143 was sent SIGTERM by something other than parallel (a shutdown, `kill`): stopped too.
if [[ " $codes " == *" 130 "* || " $codes " == *" 143 "* || $parallel_rc -eq 255 ]]; then
    echo "stopped: $((n - clean)) of $n worker(s) did not finish; run this again to finish (finished rows are" \
         "skipped)" >&2
    exit 130
fi
# Each worker's log ends with a summary line; it carries "error" when an error stopped that worker's whole
# shard, rather than rows failing one by one.
# The others' summaries count their rows: of 1,000 rows, the user learns at once whether 2 failed or all of them.
stopped_by_error=()
failed_rows=0 reported_rows=0
for log in "$logs"/shard-*.jsonl; do
    summary=$(tail -n 1 "$log" 2>/dev/null)
    [[ $summary == *'"summary": true'* ]] || continue
    if [[ $summary == *'"error": '* ]]; then
        stopped_by_error+=("$log")
    else
        failed_rows=$((failed_rows + $(sed -n 's/.*"failed": \([0-9]*\).*/\1/p' <<<"$summary")))
        reported_rows=$((reported_rows + $(sed -n 's/.*"rows": \([0-9]*\).*/\1/p' <<<"$summary")))
    fi
done
if [[ -n $killed ]]; then
    # No summary and no error to read: the worker died at once, most often by the kernel's out-of-memory killer.
    echo "worker(s) killed before they finished: shard $killed; signal 9 (SIGKILL) is most often the" \
         "out-of-memory killer (then give fewer WORKERS). Run this again to finish; finished rows are skipped" >&2
fi
if ((${#stopped_by_error[@]})); then
    # interp's advice for unusable weights is "pass --weights ...", which this script sets itself from WEIGHTS.
    said=""
    if grep -q -- "--weights" "${stopped_by_error[@]}"; then
        said=" (this script passes --weights \$WEIGHTS: run it with WEIGHTS=PATH, or WEIGHTS=demo, before it)"
    fi
    echo "${#stopped_by_error[@]} of $n worker(s) stopped by an error (the messages above; \"error\" in the last" \
         "line of ${stopped_by_error[*]}): fix it and run this again; finished rows are skipped$said" >&2
    exit 1
fi
[[ -n $killed ]] && ! awk 'NR > 1 && $8 == 0 && $7 != 0 {found = 1} END {exit !found}' "$logs/joblog" && exit 1
if ((failed_rows)); then
    echo "$failed_rows of $reported_rows rows failed${killed:+ (of the workers that finished)}; their reasons are the" \
         "\"error\" fields in $logs/shard-*.jsonl. Fix them and run this again; finished rows are skipped" >&2
else
    echo "$((n - clean)) of $n worker(s) did not finish cleanly: fix the failed rows (\"error\" in the logs) and" \
         "run this again; finished rows are skipped" >&2
fi
exit 1
