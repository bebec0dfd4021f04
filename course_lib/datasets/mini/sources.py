"""The photographs mini is made from: files inside installed pip wheels, with their credits and licenses."""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from PIL import Image

from ...images import load_image

# Everything is seeded, so a build is the same bytes every time (given the same Pillow/libjpeg);
# bump MINI_VERSION whenever the output changes.
MINI_VERSION = 3   # 3: ground truth gains the object's box in every positive view (same images)


class MiniBuildError(ValueError):
    """The mini benchmark cannot be built: a source photo is missing or the target is taken."""


@dataclass(frozen=True)
class SourcePhoto:
    """A photograph inside an installed wheel, with what its package says about it."""

    key: str            # short name used in file names
    distribution: str   # the pip distribution that ships the file
    path: str           # path of the file inside site-packages
    title: str
    credit: str
    license: str
    documented_in: str  # where the package states the credit and license
    sha256: str         # of the file as shipped when MINI_VERSION was set

    def locate(self) -> Path:
        """The file on disk, checked to be part of the installed wheel (never downloaded)."""
        try:
            dist = metadata.distribution(self.distribution)
        except metadata.PackageNotFoundError:
            raise MiniBuildError(f"mini needs the photo {self.path} from the {self.distribution} package, "
                                 f"which is not installed (pip install {self.distribution})") from None
        listed = {str(f): f for f in dist.files or []}
        on_disk = Path(dist.locate_file(self.path))
        if self.path not in listed or not on_disk.is_file():
            raise MiniBuildError(f"mini: {self.path} is not part of the installed {self.distribution} "
                                 f"{dist.version} (reinstall it with pip install --force-reinstall "
                                 f"{self.distribution})")
        return on_disk


_SKIMAGE_DOC = "docstring of skimage.data.{}() (scikit-image)"
_SKLEARN_README = "sklearn/datasets/images/README.txt (scikit-learn)"

SOURCES: tuple[SourcePhoto, ...] = (
    SourcePhoto("astronaut", "scikit-image", "skimage/data/astronaut.png",
                "Astronaut Eileen Collins", "NASA (NASA Great Images database)",
                "Public domain (no known copyright restrictions)", _SKIMAGE_DOC.format("astronaut"),
                "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    SourcePhoto("camera", "scikit-image", "skimage/data/camera.png",
                "Cameraman", "Lav Varshney", "CC0 (no copyright restrictions)",
                _SKIMAGE_DOC.format("camera"),
                "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
    SourcePhoto("chelsea", "scikit-image", "skimage/data/chelsea.png",
                "Chelsea the cat", "Stefan van der Walt", "CC0 (no copyright restrictions)",
                _SKIMAGE_DOC.format("chelsea"),
                "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    SourcePhoto("coffee", "scikit-image", "skimage/data/coffee.png",
                "Coffee cup (Pikolo Espresso Bar)", "Rachel Michetti", "CC0 (no copyright restrictions)",
                _SKIMAGE_DOC.format("coffee"),
                "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    SourcePhoto("coins", "scikit-image", "skimage/data/coins.png",
                "Greek coins from Pompeii", "Brooklyn Museum Collection",
                "No known copyright restrictions", _SKIMAGE_DOC.format("coins"),
                "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba"),
    SourcePhoto("motorcycle_left", "scikit-image", "skimage/data/motorcycle_left.png",
                "Motorcycle, Middlebury 2014 stereo dataset, left view",
                "D. Scharstein et al., Middlebury College (GCPR 2014)",
                "Not stated by scikit-image; shipped in its BSD-3-Clause wheel. Cite Scharstein et al., "
                "GCPR 2014", _SKIMAGE_DOC.format("stereo_motorcycle"),
                "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
    SourcePhoto("motorcycle_right", "scikit-image", "skimage/data/motorcycle_right.png",
                "Motorcycle, Middlebury 2014 stereo dataset, right view",
                "D. Scharstein et al., Middlebury College (GCPR 2014)",
                "Not stated by scikit-image; shipped in its BSD-3-Clause wheel. Cite Scharstein et al., "
                "GCPR 2014", _SKIMAGE_DOC.format("stereo_motorcycle"),
                "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797"),
    SourcePhoto("rocket", "scikit-image", "skimage/data/rocket.jpg",
                "Falcon 9 with DSCOVR on the launch pad", "SpaceX",
                "Public domain (released by SpaceX)", _SKIMAGE_DOC.format("rocket"),
                "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
    SourcePhoto("hubble", "scikit-image", "skimage/data/hubble_deep_field.jpg",
                "Hubble eXtreme Deep Field", "NASA (HubbleSite)",
                "Public domain (NASA media guidelines)", _SKIMAGE_DOC.format("hubble_deep_field"),
                "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4"),
    SourcePhoto("retina", "scikit-image", "skimage/data/retina.jpg",
                "Fundus photograph of a normal left eye", "Mikael Häggström (Wikimedia Commons)",
                "CC0 1.0 (public domain dedication)", _SKIMAGE_DOC.format("retina"),
                "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"),
    SourcePhoto("ihc", "scikit-image", "skimage/data/ihc.png",
                "Immunohistochemical staining of colonic glands",
                "Center for Microscopy And Molecular Imaging (CMMI)",
                "No known copyright restrictions", _SKIMAGE_DOC.format("immunohistochemistry"),
                "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"),
    SourcePhoto("moon", "scikit-image", "skimage/data/moon.png",
                "Surface of the moon", "scikit-image sample data (photographer not stated)",
                "Not stated by scikit-image; shipped in its BSD-3-Clause wheel",
                _SKIMAGE_DOC.format("moon"),
                "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577"),
    SourcePhoto("brick", "scikit-image", "skimage/data/brick.png",
                "Brick wall (CC0Textures Bricks25, warped and cropped by scikit-image)", "CC0Textures",
                "CC0", _SKIMAGE_DOC.format("brick"),
                "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"),
    SourcePhoto("grass", "scikit-image", "skimage/data/grass.png",
                "Grass (cropped and converted to grey by scikit-image)", "linolafett on DeviantArt",
                "CC0", _SKIMAGE_DOC.format("grass"),
                "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89"),
    SourcePhoto("gravel", "scikit-image", "skimage/data/gravel.png",
                "Gravel (CC0Textures Gravel04, cropped and converted to grey by scikit-image)",
                "CC0Textures", "CC0", _SKIMAGE_DOC.format("gravel"),
                "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"),
    SourcePhoto("clock", "scikit-image", "skimage/data/clock_motion.png",
                "Motion-blurred wall clock", "Stefan van der Walt", "Public domain",
                _SKIMAGE_DOC.format("clock"),
                "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955"),
    SourcePhoto("china", "scikit-learn", "sklearn/datasets/images/china.jpg",
                "Tower of Buddhist Incense, Summer Palace, Beijing",
                "danielbuechele on Flickr (retrieved by Robert Layton)", "CC BY 2.0", _SKLEARN_README,
                "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29"),
    SourcePhoto("flower", "scikit-learn", "sklearn/datasets/images/flower.jpg",
                "Dahlia", "vultilion on Flickr (the README's attribution line says danielbuechele, "
                "its link points to vultilion's photostream; retrieved by Robert Layton)",
                "CC BY 2.0", _SKLEARN_README,
                "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638"),
    SourcePhoto("grace_hopper", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
                "Commodore Grace M. Hopper, USN", "U.S. Navy (official portrait)",
                "Public domain (U.S. government work; added to matplotlib as a public-domain image, "
                "matplotlib PR #1599)",
                "matplotlib/mpl-data/sample_data (matplotlib); github.com/matplotlib/matplotlib/pull/1599",
                "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
)


def load_source_photos() -> dict[str, Image.Image]:
    """Every source photo as RGB, read from the installed wheels; warns if a file changed."""
    photos = {}
    for source in SOURCES:
        path = source.locate()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != source.sha256:
            warnings.warn(f"mini: {source.path} in the installed {source.distribution} differs from the "
                          f"photo mini version {MINI_VERSION} was made from; scores may differ from "
                          f"published ones", stacklevel=2)
        photos[source.key] = load_image(path)
    return photos


def sources_markdown(sources: list[SourcePhoto] | tuple[SourcePhoto, ...] = SOURCES,
                     what: str = "the mini benchmark") -> str:
    """SOURCES.md of a built folder: where each photograph comes from, its credit and its license."""
    lines = [f"# Sources of {what} (version {MINI_VERSION})", "",
             "Every image in this folder is a modified version (cropped, warped, resized, recoloured, "
             "partly covered, re-compressed) of one of these photographs, read from the installed Python "
             "packages named below. Credits and licenses are as those packages state them.", "",
             "| photo | package | file | credit | license | stated in |",
             "|---|---|---|---|---|---|"]
    for s in sources:
        lines.append(f"| {s.title} | {s.distribution} | `{s.path}` | {s.credit} | {s.license} | "
                     f"{s.documented_in} |")
    lines += ["", "CC BY 2.0: https://creativecommons.org/licenses/by/2.0/ ; "
              "CC0 1.0: https://creativecommons.org/publicdomain/zero/1.0/", ""]
    return "\n".join(lines)
