#!/usr/bin/env bash
# Round 3, SAC side (one core): HalfCheetah resumes from its committed latest.zip (no replay buffer: refilled).
cd "$(dirname "$0")/../.."
nice -n 10 .venv/bin/python -m symmpo.suite.train_behaviour --env halfcheetah --algo sac --minutes 50 --learning-starts 10000
