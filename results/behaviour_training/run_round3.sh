#!/usr/bin/env bash
# Round 3 (PPO over 16 vectorized envs, one core; see docs/suite.md for why PPO). Walker2d's first run reached
# greedy 94 normalized by 600k steps and was stopped there (snapshots every 100k, too coarse for the middle
# levels), so a second, densely checkpointed Walker2d run (seed 1) supplies them. Re-running resumes each run.
cd "$(dirname "$0")/../.."
T=results/behaviour_training
run() { nice -n 10 .venv/bin/python -m symmpo.suite.train_behaviour --algo ppo "$@"; }
run --env hopper --steps 2000000 --checkpoint-every 25000 --minutes 40
run --env walker2d --seed 1 --steps 600000 --checkpoint-every 25000 --minutes 15 --out $T/dense
run --env halfcheetah --steps 3000000 --checkpoint-every 50000 --minutes 40
