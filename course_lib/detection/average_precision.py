"""COCO AP of detections on scenes: AP@[.5:.95], AP@0.5 and AP@0.75 as pycocotools computes them."""
from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

from .coco import box_annotations


def coco_ap(scenes: Sequence, detections: Sequence[dict], class_names: Sequence[str]) -> dict:
    """COCO-style AP@[.5:.95], AP@0.5 and AP@0.75 of the detections (per scene: "boxes" (x1, y1, x2, y2),
    "labels", "scores") on the scenes' ground-truth boxes, computed by pycocotools."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(detections) != len(scenes):
        raise ValueError(f"coco_ap needs one detection dict per scene: {len(detections)} for {len(scenes)} scenes")
    images = [{"id": image_id, "width": scene.image.width, "height": scene.image.height}
              for image_id, scene in enumerate(scenes, start=1)]
    results = []
    for image_id, found in enumerate(detections, start=1):
        for (x1, y1, x2, y2), label, score in zip(found["boxes"].tolist(), found["labels"].tolist(),
                                                  found["scores"].tolist()):
            results.append({"image_id": image_id, "category_id": int(label), "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": float(score)})
    truth = COCO()
    truth.dataset = {"images": images, "annotations": box_annotations(scenes),
                     "categories": [{"id": i + 1, "name": n} for i, n in enumerate(class_names)]}
    with contextlib.redirect_stdout(io.StringIO()):
        truth.createIndex()
        if not results:
            return {"AP@[.5:.95]": 0.0, "AP@0.5": 0.0, "AP@0.75": 0.0, "detections": 0}
        found = truth.loadRes(results)
        evaluation = COCOeval(truth, found, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = evaluation.stats
    return {"AP@[.5:.95]": float(stats[0]), "AP@0.5": float(stats[1]), "AP@0.75": float(stats[2]),
            "detections": len(results)}
