"""Array conversions that any module may need, whatever its floor: torch tensors and array-likes to numpy."""
from __future__ import annotations

import numpy as np


def as_numpy(values) -> np.ndarray:
    """A torch tensor (any device, with or without grad) or an array-like as a numpy array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)
