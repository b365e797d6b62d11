#!/usr/bin/env bash
# The baseline table, end to end. Resumable: rerun the same script after an interruption and it continues
# where it stopped; cells whose dataset changed (re-exported behaviour policies) or whose hyperparameters changed
# (a new sweep) are redone, finished cells are not. Logs: results/bench/*.log, runtimes: results/bench/runs.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/symmpo bench --sweep --envs hopper --seeds 3 --no-progress   # hopper-clean -> sweep.md / sweep.json
# (the committed table's choice; a sweep on both envs, `--sweep --seeds 3`, is the better next step: ~1.5 h)
.venv/bin/symmpo bench --seeds 3 --no-progress           # 2 envs x 4 settings x 3 seeds -> table.md/csv/png
