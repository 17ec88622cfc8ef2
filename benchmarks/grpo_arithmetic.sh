#!/usr/bin/env bash
# Reproduce the real GRPO run: SmolLM2-135M-Instruct on single-digit addition, on CPU.
#
#   bash benchmarks/grpo_arithmetic.sh [OUT_DIR] [key=value overrides ...]
#
# Makes the train split and a held-out split (test + val: splits never share a problem),
# trains with examples/grpo_arithmetic.yaml (held-out pass@k is measured before and after
# with the tasks' own strict verifier), then prints the comparison of the two evaluations.
set -euo pipefail
out=${1:-runs/grpo-arithmetic-bench}
shift || true
mkdir -p "$out"
rlvr tasks make arithmetic op=add digits=1 --n 64 --split train -o "$out/train.jsonl"
rlvr tasks make arithmetic op=add digits=1 --n 11 --split test -o "$out/test.jsonl"
rlvr tasks make arithmetic op=add digits=1 --n 18 --split val -o "$out/val.jsonl"
cat "$out/test.jsonl" "$out/val.jsonl" > "$out/heldout.jsonl"
start=$(date +%s)
rlvr train "$(dirname "$0")/../examples/grpo_arithmetic.yaml" data.train="$out/train.jsonl" \
    data.eval="$out/heldout.jsonl" run.output_dir="$out/run" "$@"
echo "wall time: $(( $(date +%s) - start )) s"
rlvr compare "$out/run/eval/base.json" "$out/run/eval/final.json" --json "$out/compare.json"
