"""Inference rewrites of a backbone: batch norms folded into convolutions, activations in place, padding
inside convolutions. Each leaves every tap's output equal to the original's up to float rounding.
"""
from __future__ import annotations

import copy

from torch import nn

from .backbones import Backbone

# (conv, batch norm) attribute pairs inside blocks: EfficientNet-Lite's stem, MBConv and head, ResNet's bottleneck
_CONV_BN_ATTRIBUTES = (("_conv_stem", "_bn0"), ("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"),
                       ("_project_conv", "_bn2"), ("_conv_head", "_bn1"), ("conv1", "bn1"), ("conv2", "bn2"),
                       ("conv3", "bn3"))


def fold_batch_norms(backbone: Backbone) -> Backbone:
    r"""A copy of the backbone for inference in which every batch norm that follows a convolution is folded
    into it: with the running statistics of eval mode, BN(conv(x)) is itself a convolution,

    .. math:: W' = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}} W, \qquad
              b' = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}} (b - \mu) + \beta,

    so one pass over memory disappears per layer (1.1-1.15x the images/s of EfficientNet-Lite0 on a 2-core
    CPU). Outputs equal the original's to float rounding (about 1e-6 relative). The original is untouched.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if backbone.training:
        raise ValueError("fold_batch_norms needs a backbone in eval mode (batch norm with running statistics)")
    net = copy.deepcopy(backbone)
    pairs: dict[int, tuple[nn.Conv2d, nn.BatchNorm2d]] = {}
    for module in net.modules():
        if isinstance(module, nn.Sequential):  # [..., conv, bn, ...]: the stages and ResNet's downsample
            children = list(module)
            for conv, bn in zip(children, children[1:]):
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    pairs[id(bn)] = (conv, bn)
        for conv_name, bn_name in _CONV_BN_ATTRIBUTES:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                pairs[id(bn)] = (conv, bn)
    for conv, bn in pairs.values():
        fused = fuse_conv_bn_eval(conv, bn)
        conv.weight, conv.bias = fused.weight, fused.bias
    for module in net.modules():  # a block and a stage may both hold the same batch norm: replace every reference
        for name, child in list(module.named_children()):
            if id(child) in pairs:
                setattr(module, name, nn.Identity())
    return net


def inference_copy(backbone: Backbone) -> Backbone:
    """A copy of the backbone rewritten for fast inference (eval mode, no gradients); the original is untouched.

    Three rewrites, each leaving every tap's output equal to the original's up to float rounding
    (tests/test_features.py) and each measured by benchmarks/extract.py ("network as loaded" row):
    - `fold_batch_norms`: every batch norm disappears into the convolution before it;
    - `activations_in_place`: every ReLU6 then overwrites its input instead of allocating an output;
    - `padding_inside_convolutions`: TensorFlow-style "same" padding done by the convolution itself where
      it is symmetric, instead of copying the input into a padded tensor first.
    """
    return padding_inside_convolutions(activations_in_place(fold_batch_norms(backbone)))


def activations_in_place(net: nn.Module) -> nn.Module:
    """Make every ReLU and ReLU6 of an inference copy overwrite its input instead of allocating its output.

    Safe in this kit's backbones because each activation module is applied to the fresh output of the
    layer before it (a convolution, its batch norm folded into it), never to a stage's output that a tap
    returns or to a block's input that a skip connection adds back: tests/test_features.py compares every
    tap with the untouched network's. One large allocation fewer per activation: about 1.1x the images/s
    of EfficientNet-Lite0 on a 2-core CPU; torchvision's ReLUs are in place already.
    For inference only (autograd needs the inputs); changes `net` and returns it.
    """
    for module in net.modules():
        if isinstance(module, (nn.ReLU, nn.ReLU6)):
            module.inplace = True
    return net


def padding_inside_convolutions(net: nn.Module) -> nn.Module:
    """Replace EfficientNet-Lite's padding-then-convolution by a convolution that pads itself, where equal.

    TensorFlow's "same" padding adds k - 1 zero rows and columns around the input, split evenly when
    the stride is 1 and the kernel odd: exactly the zero padding (k - 1) / 2 a convolution does without
    copying its input (the pip package pads with F.pad first). Strided convolutions pad unevenly on even
    sizes and keep their own padding. About 1.03-1.05x the images/s on a 2-core CPU; outputs equal.
    Changes `net` (weights shared, not copied; a convolution held in two places stays one) and returns it.
    """
    from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding

    replaced: dict[int, nn.Conv2d] = {}
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if (type(child) is Conv2dDynamicSamePadding and tuple(child.stride) == (1, 1)
                    and tuple(child.dilation) == (1, 1) and all(k % 2 == 1 for k in child.kernel_size)):
                if id(child) not in replaced:
                    conv = nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size,
                                     padding=tuple((k - 1) // 2 for k in child.kernel_size), groups=child.groups,
                                     bias=child.bias is not None, device=child.weight.device,
                                     dtype=child.weight.dtype)
                    conv.weight, conv.bias = child.weight, child.bias
                    replaced[id(child)] = conv
                setattr(module, name, replaced[id(child)])
    return net
