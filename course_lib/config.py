"""Where data and caches live, which device to use, and seeding.

One environment variable, COURSE_LIB_HOME, moves everything the kit writes
(downloaded datasets, the built mini benchmark, the caches of `cache`).
"""
from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HOME_ENV = "COURSE_LIB_HOME"


def home_dir() -> Path:
    """Root of everything the kit writes: $COURSE_LIB_HOME or ~/.cache/course_lib."""
    env = os.environ.get(HOME_ENV)
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "course_lib"
    return root


def writable_home() -> Path:
    """home_dir(), created if missing, once a file has really been written in it (os.access says nothing
    about read-only file systems or root). Raises OSError in one line naming the folder and HOME_ENV."""
    root = home_dir()
    where = f"{HOME_ENV}={os.environ[HOME_ENV]}" if os.environ.get(HOME_ENV) else "the default cache folder"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as err:
        reason = "is a file, not a folder" if root.exists() and not root.is_dir() else (
            f"cannot be written ({err.strerror or type(err).__name__})")
        raise OSError(err.errno, f"data and cache folder {root} ({where}) {reason}: "
                                 f"set {HOME_ENV} to a writable folder") from None
    return root


def datasets_dir() -> Path:
    """Downloaded and built datasets, one folder each."""
    return home_dir() / "datasets"


def results_dir() -> Path:
    """Result tables that notebooks and the CLI write (CSV)."""
    return home_dir() / "results"


def get_device(prefer: str | None = None):
    """The torch device to use: `prefer` if given, else CUDA when available, else CPU."""
    import torch

    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, numpy and torch so that a notebook rerun gives the same numbers."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Environment:
    device: str
    torch_version: str
    home: str
    seed: int

    def __str__(self) -> str:
        return (f"device: {self.device} | torch {self.torch_version} | "
                f"data and caches: {self.home} (set {HOME_ENV} to move them) | seed {self.seed}")

    def want_gpu(self, why: str) -> None:
        """For a notebook that wants a GPU: on any other device, say so in one line, with `why` and where
        Colab's GPU is; on a GPU, nothing."""
        if not self.device.startswith("cuda"):
            print(f"This notebook wants a GPU: {why}. On Colab: Runtime > Change runtime type > GPU, then run all.")


def setup(seed: int = 0, device: str | None = None) -> Environment:
    """The one call at the top of every notebook: seed everything, pick the device."""
    import torch

    seed_everything(seed)
    _compact_inline_figures()
    dev = get_device(device)
    return Environment(device=str(dev), torch_version=torch.__version__.split("+")[0],
                       home=display_path(home_dir()), seed=seed)


def _compact_inline_figures() -> None:
    """In a notebook, show figures as JPEG: the course's figures are mostly photographs, which
    PNG stores at several times the size, and notebooks are committed with their outputs."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell":
        set_matplotlib_formats("jpeg", pil_kwargs={"quality": 88})


def display_path(path: Path) -> str:
    """A path as shown to people and in committed notebook outputs: ~ for the home folder."""
    path = Path(path)
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)
