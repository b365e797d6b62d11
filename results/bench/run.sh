#!/usr/bin/env bash
# The baseline table, end to end (suite v2: PPO behaviour levels). Resumable: rerun after an interruption and it
# continues where it stopped; cells whose dataset or hyperparameters changed are redone, finished ones are not.
#   1. sweep on clean data, fitness split (dataset seed 0, training seeds 0..N-1, resets from 0), per environment
#   2. the table on the held-out split (dataset seed 1, training seeds 1000..1004, resets from 50,000)
set -euo pipefail
cd "$(dirname "$0")/../.."
SYMMPO=${SYMMPO:-.venv/bin/symmpo}
"$SYMMPO" bench --sweep --envs hopper halfcheetah walker2d --seeds 2 --no-progress
"$SYMMPO" bench --envs hopper halfcheetah walker2d --seeds 5 --no-progress
