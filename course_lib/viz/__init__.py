"""Figures. `grids` holds what every notebook shows (thumbnails, ranked results, result bars);
one module per notebook holds that notebook's own figures. Figures draw; numbers come from the library.
"""
from . import detection, dimension_reduction, fine_tuning, ranking, representations
from .grids import (COLORS, THUMB, as_rgb, dataset_overview, map_bars, no_ticks, ranked_results, relevance,
                    show_predictions, show_query)
from .representations import (center_prior, conv_filters, feature_maps, gem_vs_p, plot_integral_max_errors,
                              region_response, rmac_grid)

__all__ = ["COLORS", "THUMB", "as_rgb", "center_prior", "conv_filters", "dataset_overview", "detection",
           "dimension_reduction", "feature_maps", "fine_tuning", "gem_vs_p", "map_bars", "no_ticks",
           "plot_integral_max_errors", "ranked_results", "ranking", "region_response", "relevance",
           "representations", "rmac_grid", "show_predictions", "show_query"]
