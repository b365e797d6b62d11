#!/usr/bin/env bash
# A cheap first rung (issue 19, part 3): the v3 fidelity studies' 38 objectives on the fitness split at fewer PO
# steps, 2 fitness seeds x 10 episodes, per column. Resumable per setting (raw.json).
# Usage: bash results/multifidelity/rung-steps/run.sh [SETTING ...]   (default 250:3e-4 250:1e-3 500:3e-4)
set -euo pipefail
cd "$(dirname "$0")/../../.."
settings=("${@:-250:3e-4 250:1e-3 500:3e-4}")
for setting in ${settings[@]}; do
  for task in hopper-mixed-0.5@v3 hopper-noisy-0.2@v3 halfcheetah-noisy-0.2@v3; do
    nice python benchmarks/rung_steps.py --task "$task" --settings "$setting" --seeds 2 --episodes 10 \
      --out "results/multifidelity/rung-steps/$task" 2>&1 | tee -a "results/multifidelity/rung-steps/$task.log"
  done
done
