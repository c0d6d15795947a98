#!/usr/bin/env bash
# Morph several pairs of faces, one video per pair, and keep going past failures.
#
#   examples/batch.sh [PAIRS_FILE]
#
# PAIRS_FILE holds one "NAME IMAGE_A IMAGE_B" per line (blank lines and # comments are skipped);
# without it the pairs listed in default_pairs below are used. Each pair runs
#
#   interp IMAGE_A IMAGE_B --weights $WEIGHTS --steps $STEPS -o $OUT_DIR/NAME.mp4 --quiet --json
#
# and its JSON summary is kept next to the video as $OUT_DIR/NAME.json. interp exits 0 on success,
# 1 on a runtime failure (no face found, bad or unavailable weights, a full disk, ...) and 2 on a usage
# error (a missing, unreadable or not-an-image input, a bad option, ...).
#
# Environment: INTERP (the command, default: `interp` on PATH, else this repository's .venv/bin/interp,
# else `python3 -m interp_cli` from it), WEIGHTS (default demo), STEPS (default 24), OUT_DIR (default
# out/batch). PAIRS_FILE, its image paths and OUT_DIR are taken from the folder the script is run in.
#
# Exit status: 0 if every pair succeeded; 2 if any pair was refused as a usage error (the batch
# itself is wrong); else 1 if any pair failed. Ctrl-C (interp exits 130) stops the whole batch.

set -u -o pipefail

# The repository, for the built-in pairs and the fallback commands. No `cd` there: a pairs file, its images
# and OUT_DIR are the caller's, relative to where the script is run, as with any command.
root=$(cd "$(dirname "$0")/.." && pwd) || exit 2

WEIGHTS=${WEIGHTS:-demo}
STEPS=${STEPS:-24}
OUT_DIR=${OUT_DIR:-out/batch}

if [[ -n "${INTERP:-}" ]]; then
    read -r -a interp_cmd <<< "$INTERP"
elif command -v interp > /dev/null; then
    interp_cmd=(interp)
elif [[ -x "$root/.venv/bin/interp" ]]; then
    interp_cmd=("$root/.venv/bin/interp")
else
    interp_cmd=(env "PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH}" python3 -m interp_cli)
fi

default_pairs() {
    cat <<'PAIRS'
# two held-out demo faces (see examples/README.md), both ways
demo_a_to_b     examples/demo_a.png examples/demo_b.png
demo_b_to_a     examples/demo_b.png examples/demo_a.png
# real photos through the cartoon demo model, which takes them as they are (unaligned): cartoon-like frames
obama_to_biden  examples/obama.jpg  examples/biden.jpg
PAIRS
}

if [[ $# -gt 1 ]]; then
    echo "usage: $0 [PAIRS_FILE]" >&2
    exit 2
fi
if [[ $# -eq 1 ]]; then
    if [[ ! -r "$1" ]]; then
        echo "$0: cannot read pairs file '$1'" >&2
        exit 2
    fi
    pairs=$(cat -- "$1")
    base=""
else
    pairs=$(default_pairs)
    base="$root/"  # the built-in pairs' images are in this repository, wherever the script is run from
fi

mkdir -p "$OUT_DIR" || exit 1

total=0 ok=0 failed=0 usage=0
failed_names=()
while read -r name a b extra; do
    [[ -z "${name:-}" || "$name" == \#* ]] && continue
    if [[ -z "${b:-}" || -n "${extra:-}" ]]; then
        echo "skip: malformed line '$name $a ${b:-} ${extra:-}' (want: NAME IMAGE_A IMAGE_B)" >&2
        usage=$((usage + 1)); total=$((total + 1)); failed_names+=("$name")
        continue
    fi
    total=$((total + 1))
    start=$SECONDS
    [[ "$a" == /* ]] || a="$base$a"
    [[ "$b" == /* ]] || b="$base$b"
    "${interp_cmd[@]}" "$a" "$b" --weights "$WEIGHTS" --steps "$STEPS" -o "$OUT_DIR/$name.mp4" --quiet --json \
        > "$OUT_DIR/$name.json"
    rc=$?
    took=$((SECONDS - start))
    case $rc in
        0)
            ok=$((ok + 1))
            echo "ok     $name -> $OUT_DIR/$name.mp4 (${took}s)" ;;
        1)
            failed=$((failed + 1)); failed_names+=("$name")
            echo "FAILED $name (runtime error, exit 1; see the message above)" >&2 ;;
        2)
            usage=$((usage + 1)); failed_names+=("$name")
            echo "FAILED $name (usage error, exit 2: check the options/paths in this script)" >&2 ;;
        130 | 143)
            echo "interrupted during $name: stopping the batch" >&2
            exit "$rc" ;;
        *)
            failed=$((failed + 1)); failed_names+=("$name")
            echo "FAILED $name (unexpected exit $rc)" >&2 ;;
    esac
    # An empty JSON file would only mislead: keep it only when interp wrote a summary.
    [[ -s "$OUT_DIR/$name.json" ]] || rm -f "$OUT_DIR/$name.json"
done <<< "$pairs"

echo "$ok of $total pairs succeeded${failed_names[*]:+; failed: ${failed_names[*]}}"
if ((usage > 0)); then
    exit 2
elif ((failed > 0)); then
    exit 1
fi
exit 0
