"""course_lib: the shared library of the "Deep Learning for Image Search" course kit.

A notebook needs two names first: `setup()` (device, seed, where the caches live)
and `__version__`. Everything else lives in its own module (datasets, models,
pooling, features, search, evaluation, viz, widgets, schedule).
"""

__version__ = "0.1.0"

from .config import setup  # noqa: E402

__all__ = ["setup", "__version__"]
