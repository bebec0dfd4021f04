"""The retrieval network: pretrained backbone -> trainable GeM -> optional learned whitening -> L2.

Lower stages stay frozen (pretrained ImageNet filters); the stages from `train_from` up to
`tap`, the GeM exponent p and the whitening layer are what fine-tuning trains.
"""
from __future__ import annotations

import copy
import hashlib
import json

import torch
from torch import Tensor, nn

from ..pooling import GeM, l2n
from .backbones import Backbone, TapInfo


class RetrievalNet(nn.Module):
    """Global descriptors for retrieval, split into a frozen trunk and a trainable top.

    trunk(x): images in [0, 1] -> feature maps after the last frozen stage (no gradient).
    top(maps): those maps -> trainable stages -> GeM (learnable p) -> L2 -> whitening -> L2.
    forward(x) = top(trunk(x)). Splitting lets training compute the trunk once per image.
    as_backbone(): the same network as a Backbone, so a fine-tuned network is extracted, pooled, scaled
    and cached by the one road that pretrained ones take (features.extract_descriptors).
    Batch normalisation keeps its ImageNet statistics (the network stays in eval mode while
    training, as tuples of a few images give poor batch statistics); gradients still flow.
    """

    def __init__(self, backbone: Backbone, tap: str | None = None, train_from: str | None = None,
                 p: float = 3.0, whitening_dim: int | None = None):
        super().__init__()
        tap = tap or backbone.default_conv
        names = backbone.stage_names
        if tap not in names or backbone.taps[tap].kind != "conv":
            convs = [n for n in names if backbone.taps[n].kind == "conv"]
            raise ValueError(f"tap {tap!r}: choose a conv stage of {backbone.name}: {', '.join(convs)}")
        train_from = train_from or tap
        if train_from not in names or names.index(train_from) > names.index(tap):
            raise ValueError(f"train_from {train_from!r}: choose a stage of {backbone.name} up to {tap!r}: "
                             f"{', '.join(names[:names.index(tap) + 1])}")
        cut, end = names.index(train_from), names.index(tap) + 1
        self.backbone_name, self.tap, self.train_from = backbone.name, tap, train_from
        self.trunk_stage_names, self.top_stage_names = names[:cut], names[cut:end]
        self.trunk_stages = nn.ModuleList(backbone.stages[:cut])
        # The trunk is shared with `backbone` (it never changes); the top is a copy, so training
        # one network leaves the backbone, and every other network made from it, as they were.
        self.top_stages = nn.ModuleList(copy.deepcopy(list(backbone.stages[cut:end])))
        self.register_buffer("mean", backbone.mean.clone(), persistent=False)
        self.register_buffer("std", backbone.std.clone(), persistent=False)
        for param in self.trunk_stages.parameters():
            param.requires_grad_(False)
        self.gem = GeM(p=p, learnable=True)
        dim = backbone.taps[tap].dim
        self.whitening = nn.Linear(dim, whitening_dim or dim, bias=True) if whitening_dim else None
        self.settings = {"backbone": backbone.name, "tap": tap, "train_from": train_from, "p": float(p),
                         "whitening_dim": whitening_dim}
        self.eval()

    @property
    def dim(self) -> int:
        return self.whitening.out_features if self.whitening is not None else self.gem_input_dim

    @property
    def gem_input_dim(self) -> int:
        last = [m for m in self.top_stages.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))][-1]
        return last.num_features if isinstance(last, nn.BatchNorm2d) else last.out_channels

    @property
    def p(self) -> float:
        return float(self.gem.p.detach())

    def train(self, mode: bool = True):
        """Always eval mode (see the class docstring); training only sets requires_grad."""
        return super().train(False)

    @torch.no_grad()
    def trunk(self, x: Tensor) -> Tensor:
        h = (x - self.mean) / self.std
        for stage in self.trunk_stages:
            h = stage(h)
        return h

    def top(self, maps: Tensor) -> Tensor:
        h = maps
        for stage in self.top_stages:
            h = stage(h)
        return _pooled_and_whitened(h, self.gem, self.whitening)

    def forward(self, x: Tensor) -> Tensor:
        return self.top(self.trunk(x))

    DESCRIPTOR_TAP = "gem-ft"  # the network's own descriptor, as a method name: its GeM, whitening and L2

    def as_backbone(self) -> Backbone:
        """This network as a Backbone (sharing its modules): the fine-tuned conv map at the tap, pooled by any
        pooling method, and the network's own descriptor as the fully connected tap DESCRIPTOR_TAP. Its name
        carries the weights' fingerprint, so cached descriptors of two trainings never mix."""
        names = self.trunk_stage_names + self.top_stage_names
        stages = list(zip(names, [*self.trunk_stages, *self.top_stages]))
        stages.append((self.DESCRIPTOR_TAP, _DescriptorHead(self.gem, self.whitening)))
        taps = {self.tap: TapInfo("conv", self.gem_input_dim), self.DESCRIPTOR_TAP: TapInfo("fc", self.dim)}
        return Backbone(f"{self.backbone_name}-ft-{self.fingerprint()}", stages, taps, default_conv=self.tap,
                        classifier_tap=self.DESCRIPTOR_TAP, mean=self.mean.flatten().tolist(),
                        std=self.std.flatten().tolist(), categories=[]).to(self.mean.device)

    def trainable_state(self) -> dict[str, Tensor]:
        """The weights fine-tuning changes (top stages, p, whitening): what a checkpoint stores."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("trunk_stages.")}

    def fingerprint(self) -> str:
        """A short hash of the settings and trained weights, to tell this network from the pretrained one."""
        h = hashlib.sha256(json.dumps(self.settings, sort_keys=True).encode())
        for key, value in sorted(self.trainable_state().items()):
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:12]


class _DescriptorHead(nn.Module):
    """The end of RetrievalNet.top as a stage: GeM -> L2 -> whitening -> L2 (modules shared with the network)."""

    def __init__(self, gem: nn.Module, whitening: nn.Module | None):
        super().__init__()
        self.gem, self.whitening = gem, whitening

    def forward(self, h: Tensor) -> Tensor:
        return _pooled_and_whitened(h, self.gem, self.whitening)


def _pooled_and_whitened(h: Tensor, gem: nn.Module, whitening: nn.Module | None) -> Tensor:
    d = l2n(gem(h))
    return d if whitening is None else l2n(whitening(d))


class TopOverMaps(nn.Module):
    """The trainable top of a RetrievalNet over a list of trunk maps of different sizes, in one forward call.

    This is the module DistributedDataParallel wraps: DDP reduces gradients once per forward, so a
    training step must describe all its images in a single call (maps differ in size and cannot be stacked).
    classes: for classification retraining (neural codes), a cosine classifier over the descriptors, whose
    logits forward returns too: scale x cos(descriptor, class weight) (normalised softmax, as in NormFace:
    Wang et al., ACM MM 2017; a fixed scale lets unit-length descriptors reach confident probabilities).
    """

    def __init__(self, net: RetrievalNet, classes: int | None = None, scale: float = 16.0):
        super().__init__()
        self.net, self.scale = net, scale
        self.classifier = nn.Linear(net.dim, classes, bias=False) if classes else None

    def forward(self, maps: list[Tensor]):
        d = torch.cat([self.net.top(m[None]) for m in maps])
        if self.classifier is None:
            return d
        return d, self.scale * d @ nn.functional.normalize(self.classifier.weight, dim=1).T
