"""Self-checked exercises: `checking` is the machinery every notebook shares; one module per notebook
holds its checks. A notebook calls `check_*` on the student's function and `show_solution(name)`.
"""
from . import representations
from .checking import SOLUTIONS, CheckResult, UnknownExerciseError, rel_error, show_solution
from .representations import check_center_prior, check_integral_box, check_rmac_grid

__all__ = ["SOLUTIONS", "CheckResult", "UnknownExerciseError", "check_center_prior", "check_integral_box",
           "check_rmac_grid", "rel_error", "representations", "show_solution"]
