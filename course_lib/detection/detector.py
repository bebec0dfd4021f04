"""A real Faster R-CNN that runs offline: torchvision's FasterRCNN on the frozen ImageNet EfficientNet-Lite0
(stride-16 map and a small trainable neck): built, trained on detection scenes, run on images."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign
from tqdm.auto import tqdm

from ..models import load_backbone

HEAD_WIDTH = 256                            # the box head's two layers (torchvision's default: 1024)
DEFAULT_TAP = "blocks4"                     # EfficientNet-Lite0 stride 16, 112 channels
ANCHOR_SIZES = (32, 64, 128, 256)
ANCHOR_RATIOS = (0.5, 1.0, 2.0)


class FrozenBackboneNeck(nn.Module):
    """The pretrained backbone up to `tap`, frozen (always in eval mode), then a small trainable neck."""

    def __init__(self, backbone, tap: str = DEFAULT_TAP, out_channels: int = 128):
        super().__init__()
        self.backbone, self.tap = backbone, tap
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.neck = nn.Sequential(nn.Conv2d(backbone.taps[tap].dim, out_channels, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True))
        self.out_channels = out_channels

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()   # frozen batch-norm statistics, whatever the detector's mode
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            features = self.backbone(x, (self.tap,))[self.tap]
        return {"0": self.neck(features)}


def build_detector(num_classes: int, tap: str = DEFAULT_TAP, min_size: int = 240, max_size: int = 320,
                   backbone=None, **kwargs) -> FasterRCNN:
    """torchvision FasterRCNN (Ren et al., NIPS 2015) on the offline Lite0: RPN over the stride-16 map with
    len(ANCHOR_SIZES) x len(ANCHOR_RATIOS) anchors per location, RoI Align 7 x 7, two-layer box head.
    num_classes counts the background. The backbone already normalises its input, so the transform does not."""
    body = FrozenBackboneNeck(backbone or load_backbone(), tap)
    anchors = AnchorGenerator(sizes=(ANCHOR_SIZES,), aspect_ratios=(ANCHOR_RATIOS,))
    pooler = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
    # A narrow head and fewer sampled RoIs per image than torchvision's defaults (1024 wide, 512 RoIs):
    # the head dominates a CPU training step, and four object classes do not need more.
    head = TwoMLPHead(body.out_channels * 7 * 7, HEAD_WIDTH)
    settings = {"rpn_batch_size_per_image": 128, "box_batch_size_per_image": 128, "rpn_post_nms_top_n_test": 300,
                **kwargs}
    return FasterRCNN(body, rpn_anchor_generator=anchors, box_roi_pool=pooler, box_head=head,
                      box_predictor=FastRCNNPredictor(HEAD_WIDTH, num_classes),
                      min_size=min_size, max_size=max_size, image_mean=[0.0, 0.0, 0.0], image_std=[1.0, 1.0, 1.0],
                      **settings)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights that training changes (the frozen backbone is left out: it comes from pip)."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith("backbone.backbone.")}


class DetectorDiverged(ValueError):
    """The training loss became NaN or infinite; the message names the step (and what was kept)."""


def batch_order(n_scenes: int, steps: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """The scenes of each step: a seeded draw without replacement per step. The first s batches are the
    same for any `steps` >= s, so a run can be resumed or extended and draw what it would have drawn."""
    rng = np.random.default_rng(seed)
    return [rng.choice(n_scenes, size=min(batch_size, n_scenes), replace=False) for _ in range(steps)]


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """SGD with momentum and weight decay on the trainable parts (the neck, the RPN and the box head)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)


def train_detector(model: FasterRCNN, scenes: Sequence, steps: int = 150, batch_size: int = 4, lr: float = 0.01,
                   seed: int = 0, progress: bool = True, device: str = "cpu", first_step: int = 0,
                   warmup: int | None = None, optimizer: torch.optim.Optimizer | None = None,
                   description: str = "train detector") -> list[dict]:
    """Steps `first_step` .. `steps - 1` of SGD on the trainable parts, batches from `batch_order`, the
    learning rate warmed up linearly over `warmup` steps (default a tenth of `steps`); returns the per-step
    losses (RPN objectness and box, RoI classifier and box). Pass the `optimizer` (from `make_optimizer`,
    its state restored) to resume. A NaN or infinite loss raises DetectorDiverged before any weight moves."""
    optimizer = optimizer or make_optimizer(model, lr)
    warmup = warmup or max(1, steps // 10)
    batches = batch_order(len(scenes), steps, batch_size, seed)
    images = [s.tensor().to(device) for s in scenes]
    targets = [{k: v.to(device) for k, v in s.target().items()} for s in scenes]
    model.to(device).train()
    history = []
    for step in tqdm(range(first_step, steps), desc=description, disable=not progress, leave=False):
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / warmup)
        losses = model([images[i] for i in batches[step]], [targets[i] for i in batches[step]])
        total = sum(losses.values())
        if not torch.isfinite(total):
            model.eval()
            raise DetectorDiverged(f"loss became {float(total.detach())} at step {step + 1}: training stopped before that "
                                   f"step changed any weight; lower the learning rate (now {lr:g})")
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append({"step": step, "total": float(total.detach()), **{k: float(v.detach()) for k, v in losses.items()}})
    model.eval()
    return history


@torch.inference_mode()
def detect(model: FasterRCNN, images: Sequence[torch.Tensor], score_threshold: float = 0.05) -> list[dict]:
    """Boxes, labels and scores per image ((3, H, W) tensors in [0, 1]), scores above the threshold."""
    model.eval()
    out = []
    for image in images:
        found = model([image])[0]
        keep = found["scores"] >= score_threshold
        out.append({k: v[keep].cpu() for k, v in found.items()})
    return out
