#!/usr/bin/env bash
# The suite-v3 baseline table (issue 18, item 7): every baseline tuned per column on the fitness split (2 seeds,
# 5 scale factors x 4 learning rates), then 20 held-out paired seeds per column. Resumable: every (task, seed)
# population is appended to sweep.jsonl / bench.jsonl as it finishes (only the members it lacks are trained), so
# re-running this script after any interruption continues where it stopped. The clean columns come first, sweep
# and table: they carry the validity evidence.
set -euo pipefail
cd "$(dirname "$0")/../.."
nice symmpo bench --suite v3 --sweep --seeds 2 --settings clean --no-progress
nice symmpo bench --suite v3 --settings clean --no-progress
SETTINGS=(noisy-0.2 mixed-0.5 noisy-0.4)
for s in "${SETTINGS[@]}"; do
  nice symmpo bench --suite v3 --sweep --seeds 2 --settings "$s" --no-progress
done
for s in "${SETTINGS[@]}"; do
  nice symmpo bench --suite v3 --settings "$s" --no-progress
done
