"""The MuJoCo diagnostic suite: discretized tasks, behaviour policies, preference datasets, evaluator."""
