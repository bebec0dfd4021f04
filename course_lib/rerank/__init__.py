"""Post-processing of a ranked list (notebook 05): query expansion (AQE, alpha-QE), database-side
augmentation, k-reciprocal re-ranking, diffusion, spatial verification; chained by a pipeline string.
"""
from .diffusion import diffusion_rerank
from .expansion import (
                       alpha_query_expansion,
                       average_query_expansion,
                       database_augmentation,
)
from .pipeline import (
                       METHODS,
                       RerankResult,
                       RerankSpecError,
                       Step,
                       apply_pipeline,
                       describe_methods,
                       format_pipeline,
                       parse_pipeline,
)
from .reciprocal import k_reciprocal_rerank
from .spatial import count_inliers, homography_inliers, spatial_rerank

__all__ = ["METHODS", "RerankResult", "RerankSpecError", "Step", "alpha_query_expansion", "apply_pipeline",
           "average_query_expansion", "count_inliers", "database_augmentation", "describe_methods",
           "diffusion_rerank", "format_pipeline", "homography_inliers", "k_reciprocal_rerank", "parse_pipeline",
           "spatial_rerank"]
