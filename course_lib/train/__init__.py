"""Fine-tuning for retrieval: ranking losses, negative mining, the training loop and checkpoints (notebook 02).
Names are imported on first use, so the command line parses without torch."""
from ..lazy_imports import lazy_face

_NAMES = {
    "CheckpointError": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "LOSSES": "losses", "contrastive_loss": "losses", "triplet_loss": "losses",
    "TrainingDiverged": "loop", "TrainResult": "loop", "TrainSettings": "loop", "train": "loop",
    "train_cached": "loop",
    "hard_negatives": "mining", "random_negatives": "mining",
}
__all__ = [*_NAMES]  # noqa: PLE0604 (names of a lazy face)
__getattr__, __dir__ = lazy_face(__name__, _NAMES)
