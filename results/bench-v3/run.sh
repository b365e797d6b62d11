#!/usr/bin/env bash
# The suite-v3 baseline table (issue 18, item 7): every baseline tuned per column on the fitness split (2 seeds,
# 5 scale factors x 4 learning rates), then 20 held-out paired seeds per column. Resumable: every (task, seed)
# population is appended to sweep.jsonl / bench.jsonl as it finishes (only the members it lacks are trained), so
# re-running this script after any interruption continues where it stopped. The clean columns come first, sweep
# and table: they carry the validity evidence.
#
#   bash results/bench-v3/run.sh          # one core, everything in order
#   bash results/bench-v3/run.sh lanes    # two cores: two lanes of about equal length (rows files are shared
#                                         # under a lock; each table runs after the sweeps it is tuned on)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=(nice symmpo bench --suite v3 --no-progress)
sweep() { "${B[@]}" --sweep --seeds 2 "$@"; }
table() { "${B[@]}" "$@"; }

sweep --settings clean
table --settings clean
if [[ "${1:-}" == lanes ]]; then
  (
    sweep --settings noisy-0.2
    table --settings noisy-0.2
    sweep --settings noisy-0.4 --envs hopper
    table --settings noisy-0.4 --envs hopper walker2d
  ) >"results/bench-v3/lane-a.log" 2>&1 &
  (
    sweep --settings mixed-0.5
    table --settings mixed-0.5
    sweep --settings noisy-0.4 --envs halfcheetah
    table --settings noisy-0.4 --envs halfcheetah
  ) >"results/bench-v3/lane-b.log" 2>&1 &
  wait
else
  for s in noisy-0.2 mixed-0.5 noisy-0.4; do sweep --settings "$s"; done
  for s in noisy-0.2 mixed-0.5 noisy-0.4; do table --settings "$s"; done
fi
"${B[@]}" --report
