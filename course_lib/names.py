"""The names that the command line offers (backbones, poolings, training losses and triplet samplers),
torch-free so that parsing a command, listing its choices in --help and answering its mistakes needs no
torch. models.backbones, pooling, train.losses and train.samplers implement exactly these (tested)."""

DEFAULT_BACKBONE = "efficientnet-lite0"
BACKBONES = ("efficientnet-lite0", "alexnet", "vgg16", "resnet50", "resnet101")
POOLING_NAMES = ("mac", "spoc", "spoc-center", "gem", "rmac", "rmac-integral")
# A pooling whose values changed since its descriptors were cached gets a revision beside its name, so that its
# cached descriptors are recomputed and every other method's stay valid (descriptor_cache puts it in the key).
# rmac-integral 2: regional sums by one matrix product, weak regions no longer rounded to 0.
POOLING_REVISIONS = {"rmac-integral": 2}
# The conv map each backbone pools by default (its last), so that cached descriptors can be found by name.
DEFAULT_CONV_TAPS = {"efficientnet-lite0": "head", "alexnet": "conv5", "vgg16": "conv5_3", "resnet50": "layer4",
                     "resnet101": "layer4"}
LOSS_NAMES = ("contrastive", "triplet")
SAMPLER_NAMES = ("random", "hard", "semi-hard", "distance-weighted")
