"""Training: categorical MLP policies, the BC reference policy, and the PO trainer for many objectives at once."""

from symmpo.train.config import TrainConfig
from symmpo.train.trainer import TrainResult, train_population

__all__ = ["TrainConfig", "TrainResult", "train_population"]
