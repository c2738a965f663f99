"""Training: strategies from config, a resumable fit loop, checkpoints."""

from lepton_tf.training.config import TrainConfig, load_config, save_config
from lepton_tf.training.strategy import is_chief, make_strategy
from lepton_tf.training.task import Task
from lepton_tf.training.trainer import Trainer, seed_everything

__all__ = ["TrainConfig", "Task", "Trainer", "is_chief", "load_config",
           "make_strategy", "save_config", "seed_everything"]
