#!/usr/bin/env bash
# Build the full lawrefbook + seed index once, in the background, into a reusable folder.
#
#   eval/build_lawref_index.sh               # background build into data/lawref-index (log: data/lawref-index.log)
#   eval/build_lawref_index.sh --foreground  # same, in this terminal
#
# Environment: INDEX_DIR (default data/lawref-index), POLICYQA_HOME (default data/home: the model and the
# embedding cache live there and persist), SHARED (default ../shared), LOG (default $INDEX_DIR.log).
# Every embedded batch is written to the embedding cache at once, so an interrupted build (Ctrl-C, kill,
# reboot) is resumed by running the script again: only passages not yet in the cache are embedded.
# The index itself is swapped in atomically at the very end; until then the previous one (if any) stays.
set -euo pipefail
cd "$(dirname "$0")/.."

INDEX_DIR=${INDEX_DIR:-data/lawref-index}
export POLICYQA_HOME=${POLICYQA_HOME:-data/home}
SHARED=${SHARED:-../shared}
LOG=${LOG:-$INDEX_DIR.log}
LAWREFBOOK="$SHARED/corpus/lawrefbook"
SEED=corpus/samples/000_a0c1336e9725a78b.txt

if [[ ! -d $LAWREFBOOK ]]; then
    echo "no lawrefbook at $LAWREFBOOK (set SHARED=/path/to/shared)" >&2
    exit 1
fi
mkdir -p "$POLICYQA_HOME" "$(dirname "$LOG")"
command=(nice -n 10 .venv/bin/policyqa -v index "$LAWREFBOOK" "$SEED" --index-dir "$INDEX_DIR")

if [[ ${1:-} == --foreground ]]; then
    exec "${command[@]}"
fi
nohup "${command[@]}" >"$LOG" 2>&1 &
echo "$!" >"$INDEX_DIR.pid"
echo "building $INDEX_DIR in the background (pid $!, POLICYQA_HOME=$POLICYQA_HOME); follow with: tail -f $LOG"
echo "when it has finished: POLICYQA_HOME=$POLICYQA_HOME .venv/bin/python -m experiments.make_results --index-dir $INDEX_DIR"
