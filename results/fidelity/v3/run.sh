#!/usr/bin/env bash
# Fitness fidelity on suite v3 (issue 18, item 5): three target columns, one of them HalfCheetah; 3 fitness seeds
# (variants 1..3) against 10 held-out seeds, at the suite's 1000 PO steps. Resumable per setting (raw.json).
# --fitness-datasets 2 adds the same fitness runs on a second fitness-side dataset (seed 3), for a fitness
# averaged over two draws of the preference data (added after the first run; the study resumes and trains only those).
set -euo pipefail
cd "$(dirname "$0")/../../.."
for task in halfcheetah-noisy-0.2@v3 hopper-noisy-0.2@v3 hopper-mixed-0.5@v3; do
  nice symmpo fidelity --task "$task" --samples 16 --settings 1000:3e-4 --fitness-seeds 3 --fitness-datasets 2 \
    --heldout-seeds 10 --out "results/fidelity/v3/$task" 2>&1 | tee -a "results/fidelity/v3/$task.log"
done
