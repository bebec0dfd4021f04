"""The command line's toolkit: a parser whose errors are one line, the argument types every command shares
(sizes, counts, scales, devices) and the checks of output and figure files made before any work.

It imports nothing of the kit, so every command module (course_lib.commands) and the schedule's command
line can stand on it; the commands themselves live in course_lib.commands.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path


class OneLineParser(argparse.ArgumentParser):
    """argparse with errors as one line (`prog: error: message (see --help)`) instead of usage + message."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def one_line(error: BaseException) -> str:
    """An exception as one line: its message with line breaks folded (OSError: with the path it names)."""
    if isinstance(error, OSError) and error.strerror:
        text = f"{error.filename}: {error.strerror}" if error.filename is not None else error.strerror
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (a damaged cache entry healed, a skipped file) as one line each, without source lines."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


LOG_PROGRESS_INTERVAL_S = "60"


def calm_progress_in_logs(stream=None) -> None:
    """When stderr is a log (CI, a file), not a terminal, tqdm bars redraw at most once a minute (their
    first and last state, mostly) instead of filling the log; --quiet still turns them off."""
    stream = sys.stderr if stream is None else stream
    if not (hasattr(stream, "isatty") and stream.isatty()):
        os.environ.setdefault("TQDM_MININTERVAL", LOG_PROGRESS_INTERVAL_S)


# ---- argument types: each refuses a bad value at parse time, in one line that argparse prefixes with the option

def whole_number(minimum: int, maximum: int | None = None, unit: str = ""):
    """argparse type: a whole number in [minimum, maximum] (no upper bound when maximum is None)."""
    unit = f" {unit}" if unit else ""
    bounds = f"at least {minimum}{unit}" if maximum is None else f"from {minimum} to {maximum}{unit}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one {bounds}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"{text}: must be {bounds}")
        return value

    parse.__name__ = "whole number"
    return parse


positive_int = whole_number(1)

MIN_IMAGE_SIDE = 32  # below this the last conv map of every backbone is smaller than one cell
MAX_IMAGE_SIDE = 4096  # a longer side of 4096 already needs several GB of activations on a CPU
image_side = whole_number(MIN_IMAGE_SIDE, MAX_IMAGE_SIDE, "pixels")


def real_number(minimum: float | None = None, maximum: float | None = None, above: bool = False):
    """argparse type: a finite number >= minimum (> minimum when `above`) and <= maximum."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        too_low = minimum is not None and (value <= minimum if above else value < minimum)
        too_high = maximum is not None and value > maximum
        if not math.isfinite(value) or too_low or too_high:
            low = "" if minimum is None else f"{'greater than' if above else 'at least'} {minimum:g}"
            high = "" if maximum is None else f"at most {maximum:g}"
            raise argparse.ArgumentTypeError(f"{text!r}: give a finite number {' and '.join(filter(None, (low, high)))}"
                                             .rstrip())
        return value

    parse.__name__ = "number"
    return parse


MAX_SCALE = 4.0  # a longer side of 4 x --image-size already needs several GB of activations


def scale_factor(text: str) -> float:
    """argparse type of --scales: a finite factor in (0, MAX_SCALE]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_SCALE):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid scale: give factors greater than 0 and at most "
                                         f"{MAX_SCALE:g}, e.g. 1 0.707 0.5")
    return value


def device_name(text: str) -> str:
    """argparse type of --device: cpu, cuda, cuda:N or mps, and only one that this machine has."""
    import torch

    valid = "cpu, cuda, cuda:N (N a GPU index) or mps"
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device: use {valid}") from None
    if device.type == "cpu":
        return text
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has no usable CUDA GPU; use cpu")
        if device.index is not None and device.index >= count:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}")
        return text
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has no Apple GPU (MPS); use cpu")
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not supported: use {valid}")


# ---- options several commands share, declared once

def add_device_option(parser, extra: str = "") -> None:
    parser.add_argument("--device", type=device_name, help="torch device: cpu, cuda, cuda:N or mps (default: cuda if "
                        f"available, else cpu{extra})")


def add_image_size_option(parser, default: int, what: str = "longer image side in pixels") -> None:
    parser.add_argument("--image-size", dest="max_side", type=image_side, default=default, metavar="N",
                        help=f"{what}, {MIN_IMAGE_SIDE} to {MAX_IMAGE_SIDE} (default {default})")


def add_quiet_option(parser, what: str = "no progress bars and no summary line: stderr holds only warnings and "
                                         "errors") -> None:
    parser.add_argument("--quiet", action="store_true", help=what)


def add_no_download_option(parser) -> None:
    parser.add_argument("--no-download", action="store_true", help="never download; fail if the data is missing")


# ---- output files, checked before any work

def check_output_file(option: str, value: str) -> Path:
    """Refuse an output path before any work is done: a missing or unwritable folder, or a folder as file.

    Writability is tested by writing (os.access says nothing about read-only file systems or root),
    where `files.atomic_write` will write: beside the link's target for a symlink, into the file itself
    for a device or pipe (/dev/null, /dev/stdout).
    """
    path = Path(value).expanduser()
    try:
        real = path.resolve() if path.is_symlink() else path
    except (RuntimeError, OSError):
        raise ValueError(f"{option} {value}: symbolic link loop") from None
    if real.is_dir():
        raise ValueError(f"{option} {value}: is a folder; give a file name")
    if real.exists() and not real.is_file():
        if not os.access(real, os.W_OK):
            raise ValueError(f"{option} {value}: cannot be written")
        return path
    if not real.parent.is_dir():
        raise ValueError(f"{option} {value}: folder {real.parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=real.parent):
            pass
    except OSError as err:
        raise ValueError(f"{option} {value}: folder {real.parent} is not writable "
                         f"({err.strerror or type(err).__name__})") from None
    return path


FIGURE_FORMATS = (".png", ".pdf", ".svg")


def check_figure_file(option: str, value: str) -> Path:
    """A figure file to write: a known format by its extension, in a folder that can be written."""
    if Path(value).suffix.lower() not in FIGURE_FORMATS:
        raise ValueError(f"{option} {value}: the file name must end in {', '.join(FIGURE_FORMATS)}")
    return check_output_file(option, value)


def check_run_folder(option: str, value: str, resume: bool, checkpoint: str = "last.pt") -> Path:
    """The output folder of a training run: a folder (or nothing yet), holding `checkpoint` only with --resume
    (nothing is overwritten). Whether --resume needs a checkpoint there is the caller's choice."""
    out = Path(value).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{option} {value}: is a file; give a folder")
    if (out / checkpoint).exists() and not resume:
        raise ValueError(f"{option} {value}: already holds {checkpoint}; add --resume to continue it, "
                         f"or choose another folder (nothing is overwritten)")
    return out
