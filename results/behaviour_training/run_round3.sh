#!/usr/bin/env bash
# Round 3 (PPO over 16 vectorized envs, one core): Walker2d, then Hopper, then HalfCheetah (a comparison
# against SAC there). Each resumes from its latest.zip if re-run.
cd "$(dirname "$0")/../.."
for env in walker2d hopper halfcheetah; do
  nice -n 10 .venv/bin/python -m symmpo.suite.train_behaviour --env "$env" --algo ppo --steps 3000000 \
    --checkpoint-every 100000 --minutes 40
done
