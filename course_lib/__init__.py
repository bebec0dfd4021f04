"""course_lib: the shared library of the "Deep Learning for Image Search" course kit.

A notebook needs two names first: `setup()` (device, seed, where the caches live)
and `__version__`. Everything else lives in its own module or package, one per stage
of the pipeline (datasets, models, pooling, features, transforms, index, rerank,
evaluation, experiment; train and detection beside them; viz, widgets, exercises),
the course's logistics apart (schedule) and the command line on top (commands).
"""

__version__ = "0.1.0"

from .config import setup  # noqa: E402

__all__ = ["setup", "__version__"]
