"""The self-check machinery every notebook's exercises share: calling the student's function safely,
cs231n's rel_error, one-message results, and references revealed folded (`show_solution`).

A notebook's exercises live in their own module and register their reference solutions here
with `register_solutions`; the references are never importable as the answer.
"""
from __future__ import annotations

import html
import inspect
import math
import sys
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch

TOLERANCE = 1e-5  # largest rel_error accepted: float64 gives about 1e-15, float32 about 1e-7

@dataclass(frozen=True)
class CheckResult:
    """The outcome of a self-check: truthy when passed; prints as its message."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message


def rel_error(x, y) -> float:
    """Largest relative difference max |x - y| / max(1e-8, |x| + |y|), as in the cs231n assignments."""
    x, y = as_array(x), as_array(y)
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def error_bound(error: float) -> str:
    """A rel_error as the next power of ten above it ("< 1e-13"), so that a check prints the same
    message on every machine although the last digits of floating-point results differ."""
    return "0" if error == 0 else f"< {10.0 ** math.ceil(math.log10(error)):.0e}"


def as_array(value) -> np.ndarray:
    """A numpy array, torch tensor, list or number as a float64 array; complex values are refused."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if np.iscomplexobj(value):
        raise TypeError("complex numbers")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cast that loses information is a wrong answer, not a warning
        return np.asarray(value, dtype=np.float64)


def returned_array(fn: Callable, value, shown_args: str) -> np.ndarray:
    """The student's return value as a float64 array, or a CheckFailure that says what came back."""
    if value is None:
        raise CheckFailure(f"{function_name(fn)}({shown_args}) returned None: did you forget the `return`?")
    try:
        return as_array(value)
    except (TypeError, ValueError, Warning):
        raise CheckFailure(f"{function_name(fn)}({shown_args}) must return real numbers (a numpy array or a torch "
                       f"tensor); got {_describe(value)}") from None


def _describe(value) -> str:
    """A one-line description of any value: arrays by shape and dtype, other things by a short repr."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = " ".join(repr(value).split())
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def finite_array(fn: Callable, value: np.ndarray, shown_args: str) -> np.ndarray:
    """`value` unchanged when every entry is finite; else a CheckFailure naming the first NaN or inf."""
    bad = ~np.isfinite(value)
    if bad.any():
        where = np.unravel_index(int(np.argmax(bad)), value.shape) if value.ndim else ()
        raise CheckFailure(f"{function_name(fn)}({shown_args}) returned {value[where]} at index "
                       f"{tuple(int(i) for i in where)}; every value must be a finite number")
    return value


def function_name(fn: Callable) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


class CheckFailure(Exception):
    """Raised inside a check to stop at the first problem with its message."""


def call_student(fn: Callable, args: tuple, shown_args: str, forbidden: Iterable[Callable] = ()):
    """Call the student's function; turn any exception into a failure that says what was called.

    `forbidden`: the library functions that ARE the answer. A solution that calls one of them
    (directly or through helpers) fails with a message naming it: importing the answer is not writing it.
    """
    if not callable(fn):
        raise CheckFailure(f"expected your function, got {_describe(fn)}: pass the function itself, without "
                       f"calling it (no parentheses)")
    answers = {getattr(f, "__code__", None): f for f in forbidden}
    answers.pop(None, None)
    used: list[Callable] = []

    def watch(frame, event, _arg):
        if event == "call" and frame.f_code in answers and not used:
            used.append(answers[frame.f_code])

    previous = sys.getprofile()
    if answers:
        sys.setprofile(watch)
    try:
        result = fn(*args)
    except NotImplementedError:
        raise CheckFailure(f"{function_name(fn)}: not implemented yet (it raises NotImplementedError); write it in "
                       f"its cell, run that cell, then run this check again") from None
    except Exception as exc:  # the student's code may fail in any way: report it, do not crash the notebook
        raise CheckFailure(f"{function_name(fn)}({shown_args}) raised {type(exc).__name__}: {exc}") from None
    finally:
        if answers:
            sys.setprofile(previous)
    if used:
        answer = used[0]
        relation = "is" if getattr(fn, "__code__", None) is answer.__code__ else "calls"
        raise CheckFailure(f"{function_name(fn)} {relation} {answer.__module__}.{answer.__qualname__}, the library's "
                       f"own answer to this exercise: write the computation yourself (numpy or torch)")
    return result


def run_check(fn: Callable, check: Callable[[], str]) -> CheckResult:
    """Run a check: its success message, or the first problem it found, as one CheckResult.

    Whatever goes wrong inside the checker itself also becomes a message, never a traceback.
    """
    try:
        return CheckResult(True, f"{function_name(fn)}: passed. {check()}")
    except CheckFailure as failure:
        return CheckResult(False, f"{failure}")
    except Exception as exc:  # an answer the checker did not foresee: still one message
        return CheckResult(False, f"{function_name(fn)}: the check could not compare your answer with the "
                                  f"reference ({type(exc).__name__}: {exc}); look at what your function returns")


def solution_functions(name: str) -> tuple[Callable, ...]:
    """The functions registered as the answer to exercise `name` (what `call_student` forbids)."""
    return SOLUTIONS.get(name, ())


# ---------------------------------------------------------------- reference solutions


SOLUTIONS: dict[str, tuple[Callable, ...]] = {}
"""Exercise name -> the functions whose source is the reference solution (library code, not a copy)."""


def register_solutions(solutions: dict[str, tuple[Callable, ...]]) -> None:
    """Called by each notebook's exercise module: its exercises' names and reference functions."""
    SOLUTIONS.update(solutions)


class UnknownExerciseError(ValueError):
    """A name that is not a key of SOLUTIONS."""


@dataclass(frozen=True)
class Solution:
    """Reference source code; in a notebook it renders folded, to be opened with a click."""

    name: str
    source: str

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return self.source

    def _repr_html_(self) -> str:
        return (f"<details><summary>Reference solution of exercise <code>{html.escape(self.name)}</code> "
                f"(click to reveal)</summary><pre>{html.escape(self.source)}</pre></details>")


def show_solution(name: str) -> Solution:
    """The reference solution of an exercise: the source of the course_lib functions that solve it."""
    try:
        functions = SOLUTIONS[name]
    except (KeyError, TypeError):
        raise UnknownExerciseError(f"no exercise {name!r}; exercises: {', '.join(SOLUTIONS)}") from None
    parts = [f"# {fn.__module__}.{fn.__qualname__}\n{inspect.getsource(fn)}" for fn in functions]
    return Solution(name, "\n".join(parts).rstrip() + "\n")
