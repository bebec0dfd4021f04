"""Post-processing of a ranked list (notebook 05): query expansion (AQE, alpha-QE), database-side
augmentation, k-reciprocal re-ranking, diffusion, spatial verification; chained by a pipeline string.
Names are imported on first use (spatial verification needs scikit-image, the rest only numpy).
"""
from ..lazy_imports import lazy_face

_NAMES = {
    "diffusion_rerank": "diffusion",
    "alpha_query_expansion": "expansion", "average_query_expansion": "expansion", "database_augmentation": "expansion",
    "METHODS": "pipeline", "RerankResult": "pipeline", "RerankSpecError": "pipeline", "Step": "pipeline",
    "apply_pipeline": "pipeline", "describe_methods": "pipeline", "format_pipeline": "pipeline",
    "parse_pipeline": "pipeline",
    "k_reciprocal_rerank": "reciprocal",
    "count_inliers": "spatial", "homography_inliers": "spatial", "spatial_rerank": "spatial",
}
__all__ = [*_NAMES]  # noqa: PLE0604 (names of a lazy face)
__getattr__, __dir__ = lazy_face(__name__, _NAMES)
