"""The embedded offline benchmark `mini`: instance retrieval on real photographs shipped in pip wheels.

`build_mini(target)` writes it in the kit's folder format, ground truth in the revisited Oxford/Paris structure.
"""
from .build import build_mini, write_dataset_json
from .labels import Visibility, box_in_view, label, visibility
from .objects import DISTRACTOR_PHOTOS, OBJECTS, VIEWS_PER_DISTRACTOR_PHOTO, Box, QueryObject
from .plans import (MAX_SIDE, ObjectOnPhoto, mild_lighting, plan_database, plan_easy, plan_lighting, plan_occlusion,
                    plan_perspective, plan_scale, strong_lighting)
from .render import jpeg_bytes, relight, render
from .sources import MINI_VERSION, SOURCES, MiniBuildError, SourcePhoto, load_source_photos, sources_markdown
from .staging import BUILD_LOCK, build_once, build_record_matches, remove_stale_builds
from .views import Lighting, Occluder, View, apply_homography, fit_inside, homography, rect_corners, view_size, window

__all__ = ["BUILD_LOCK", "Box", "DISTRACTOR_PHOTOS", "Lighting", "MAX_SIDE", "MINI_VERSION", "MiniBuildError",
           "OBJECTS", "ObjectOnPhoto", "Occluder", "QueryObject", "SOURCES", "SourcePhoto",
           "VIEWS_PER_DISTRACTOR_PHOTO", "View", "Visibility", "apply_homography", "box_in_view", "build_mini",
           "build_once", "build_record_matches", "fit_inside", "homography", "jpeg_bytes", "label",
           "load_source_photos", "mild_lighting", "plan_database", "plan_easy", "plan_lighting", "plan_occlusion",
           "plan_perspective", "plan_scale", "rect_corners", "relight", "remove_stale_builds", "render",
           "sources_markdown", "strong_lighting", "view_size", "visibility", "window", "write_dataset_json"]
