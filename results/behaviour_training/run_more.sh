#!/usr/bin/env bash
# Second round: waits for run_all.sh, then resumes each env from its latest.zip (one process at a time).
cd "$(dirname "$0")/../.."
while kill -0 "$(cat results/behaviour_training/run_all.pid)" 2>/dev/null; do sleep 30; done
for spec in hopper:30 halfcheetah:30 walker2d:20; do
  env=${spec%%:*}; minutes=${spec##*:}
  .venv/bin/python -m symmpo.suite.train_behaviour --env "$env" --minutes "$minutes"
done
