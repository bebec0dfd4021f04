"""The backbone and pooling names that the command line offers, torch-free so that parsing a command
and answering its mistakes needs no torch. models.backbones and pooling implement exactly these."""

DEFAULT_BACKBONE = "efficientnet-lite0"
BACKBONES = ("efficientnet-lite0", "alexnet", "vgg16", "resnet50", "resnet101")
POOLING_NAMES = ("mac", "spoc", "spoc-center", "gem", "rmac", "rmac-integral")
