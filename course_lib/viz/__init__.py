"""Figures. `grids` holds what every notebook shows (thumbnails, ranked results, result bars);
one module per notebook holds that notebook's own figures. Figures draw; numbers come from the library.
"""
from .grids import (COLORS, THUMB, as_rgb, dataset_overview, map_bars, no_ticks, ranked_results, relevance,
                    show_predictions, show_query)
from .representations import (center_prior, conv_filters, feature_maps, gem_vs_p, plot_integral_max_errors,
                              region_response, rmac_grid)

__all__ = ["COLORS", "THUMB", "as_rgb", "center_prior", "conv_filters", "dataset_overview", "feature_maps",
           "gem_vs_p", "map_bars", "no_ticks", "plot_integral_max_errors", "ranked_results", "region_response",
           "relevance", "rmac_grid", "show_predictions", "show_query"]
