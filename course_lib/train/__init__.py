"""Fine-tuning for retrieval: ranking losses, negative mining, the training loop and checkpoints (notebook 02)."""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .losses import LOSSES, contrastive_loss, triplet_loss
from .loop import TrainingDiverged, TrainResult, TrainSettings, train, train_cached
from .mining import hard_negatives, random_negatives

__all__ = ["LOSSES", "CheckpointError", "TrainResult", "TrainSettings", "TrainingDiverged", "contrastive_loss",
           "hard_negatives", "load_checkpoint", "random_negatives", "save_checkpoint", "train", "train_cached", "triplet_loss"]
