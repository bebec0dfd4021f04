"""Self-checked exercises: `checking` is the machinery every notebook shares; one module per notebook
holds its checks and what each is worth (`POINTS`, gathered below for the grader). A notebook calls
`check_*` on the student's function and `show_solution(name)`.
Reference solutions are reached only through `show_solution`; nothing here is an answer to import.
"""
from . import detection, dimension_reduction, fine_tuning, ranking, representations, start_here
from .checking import CheckResult, UnknownExerciseError, rel_error, show_solution
from .detection import check_anchors, check_decode, check_iou, check_nms
from .dimension_reduction import check_asymmetric_distance, check_choose_nprobe, check_pca_projection, check_pq_encode
from .fine_tuning import check_contrastive_loss, check_hard_negatives, check_learned_whitening
from .ranking import check_aqe, check_homography_inliers, check_triplet_loss
from .representations import check_center_prior, check_integral_box, check_rmac_grid
from .start_here import check_average_precision

POINTS: dict[str, int] = {**start_here.POINTS, **representations.POINTS, **fine_tuning.POINTS,
                          **dimension_reduction.POINTS, **detection.POINTS, **ranking.POINTS}
"""check_<name> -> points when graded, for every notebook (each module's POINTS is the one place to change)."""

__all__ = ["POINTS", "CheckResult", "UnknownExerciseError", "check_anchors", "check_aqe", "check_asymmetric_distance",
           "check_average_precision", "check_center_prior", "check_choose_nprobe", "check_contrastive_loss",
           "check_decode", "check_hard_negatives", "check_homography_inliers", "check_integral_box", "check_iou", "check_learned_whitening",
           "check_nms", "check_pca_projection", "check_pq_encode", "check_rmac_grid", "check_triplet_loss", "detection",
           "dimension_reduction", "fine_tuning", "ranking", "rel_error", "representations", "show_solution",
           "start_here"]
