#!/usr/bin/env bash
# Behaviour-policy training chain, one process at a time (1 thread each). Re-running resumes each env.
cd "$(dirname "$0")/../.."
for spec in hopper:22 halfcheetah:25 walker2d:20; do
  env=${spec%%:*}; minutes=${spec##*:}
  .venv/bin/python -m symmpo.suite.train_behaviour --env "$env" --minutes "$minutes"
done
