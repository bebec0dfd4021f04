"""Why Faster R-CNN is fast, measured: the cost per image of R-CNN-style (the CNN on every proposal crop),
Fast R-CNN-style (one CNN pass, RoI Align per proposal) and Faster R-CNN (learned proposals), same backbone."""
from __future__ import annotations

import pandas as pd
import torch
from torch.nn import functional as F
from torchvision.models.detection import FasterRCNN

from ..timing import fastest_seconds

RCNN_CROP = 224   # R-CNN warps every proposal to a fixed input size (227 for AlexNet)


@torch.inference_mode()
def classify_regions(model: FasterRCNN, features: torch.Tensor, proposals: torch.Tensor,
                     image_size: tuple[int, int]) -> torch.Tensor:
    """The detector's second stage on given proposals: RoI Align on the map, box head, class scores."""
    pooled = model.roi_heads.box_roi_pool({"0": features}, [proposals], [image_size])
    logits, _ = model.roi_heads.box_predictor(model.roi_heads.box_head(pooled))
    return logits


@torch.inference_mode()
def rcnn_style(model: FasterRCNN, image: torch.Tensor, proposals: torch.Tensor) -> torch.Tensor:
    """R-CNN: crop every proposal, warp it to RCNN_CROP x RCNN_CROP, run the whole CNN on it."""
    scores = []
    for x1, y1, x2, y2 in proposals.round().int().tolist():
        crop = image[:, max(0, y1):max(y1 + 1, y2), max(0, x1):max(x1 + 1, x2)]
        warped = F.interpolate(crop[None], size=(RCNN_CROP, RCNN_CROP), mode="bilinear", align_corners=False)
        features = model.backbone(warped)["0"]
        box = torch.tensor([[0.0, 0.0, RCNN_CROP, RCNN_CROP]])
        scores.append(classify_regions(model, features, box, (RCNN_CROP, RCNN_CROP)))
    return torch.cat(scores)


@torch.inference_mode()
def fast_style(model: FasterRCNN, image: torch.Tensor, proposals: torch.Tensor) -> torch.Tensor:
    """Fast R-CNN: one CNN pass over the image, then RoI Align of every proposal on the shared map."""
    features = model.backbone(image[None])["0"]
    return classify_regions(model, features, proposals.float(), tuple(image.shape[-2:]))


@torch.inference_mode()
def faster_style(model: FasterRCNN, image: torch.Tensor) -> dict:
    """Faster R-CNN: the region proposal network on the same map proposes; the second stage classifies."""
    return model([image])[0]


def pipeline_costs(model: FasterRCNN, image: torch.Tensor, proposals: torch.Tensor, rcnn_proposals: int | None = None,
                   repeats: int = 3) -> pd.DataFrame:
    """Seconds per image of the three pipelines on one (3, H, W) image, the fastest of `repeats`
    (`timing.fastest_seconds`).

    Fast-style and Faster get all `proposals` (Faster makes its own, as many as its RPN keeps);
    R-CNN-style runs on the first `rcnn_proposals` only (the CNN on each is slow) and its time
    is scaled linearly to all of them, which the table says. External proposal generation (selective
    search, about 2 s in the lecture's era) is not counted for R-CNN and Fast R-CNN.
    """
    model.eval()
    count = len(proposals)
    subset = proposals[: rcnn_proposals or count]
    rcnn = fastest_seconds(lambda: rcnn_style(model, image, subset), max(1, repeats // 2))[1] * count / len(subset)
    fast = fastest_seconds(lambda: fast_style(model, image, proposals), repeats)[1]
    faster = fastest_seconds(lambda: faster_style(model, image), repeats)[1]
    table = pd.DataFrame({"seconds per image": [rcnn, fast, faster]},
                         index=["R-CNN style", "Fast R-CNN style", "Faster R-CNN"])
    table["speed-up vs R-CNN style"] = rcnn / table["seconds per image"]
    table["proposals"] = [count, count, model.rpn._post_nms_top_n["testing"]]
    table["R-CNN time"] = ["scaled from " + str(len(subset)) if len(subset) < count else "measured", "", ""]
    return table
