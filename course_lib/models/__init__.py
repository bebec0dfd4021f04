"""Networks: pretrained backbones with named taps (conv maps and fc activations).

The retrieval network (backbone -> pooling -> whitening) and the detector join this package
with the notebooks that need them.
"""
from .backbones import (BACKBONES, DEFAULT_BACKBONE, IMAGENET_MEAN, IMAGENET_STD, LITE_MEAN, LITE_STD, Backbone,
                        TapInfo, WeightsUnavailable, classification_input, imagenet_categories, layer_table,
                        lite0_weights_file, load_backbone, weights_url)

__all__ = ["BACKBONES", "DEFAULT_BACKBONE", "IMAGENET_MEAN", "IMAGENET_STD", "LITE_MEAN", "LITE_STD", "Backbone",
           "TapInfo", "WeightsUnavailable", "classification_input", "imagenet_categories", "layer_table",
           "lite0_weights_file", "load_backbone", "weights_url"]
