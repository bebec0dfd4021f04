"""R1M (revisitop1m) through the download layer: archives and image list served by a local HTTP server,
checksums recorded on first download (none invented), images in the list's order, then sharded extraction."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from support import StaticServer, local_manifest, make_tar_gz

from course_lib.datasets import (
    DATASETS,
    DatasetNotAvailable,
    load_dataset,
    load_manifest,
)


def jpeg(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


# Two of the hundred archives, one with a leading jpg/ inside, and a list naming images with and without ".jpg".
ARCHIVES = {1: {"jpg/00/0a1b.jpg": (200, 30, 30), "jpg/00/0c2d.jpg": (30, 200, 30)},
            2: {"01/1e3f.jpg": (30, 30, 200)}}
IMAGE_LIST = "00/0c2d\n01/1e3f.jpg\n00/0a1b.jpg\n"


@pytest.fixture
def served(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    for number, members in ARCHIVES.items():
        (site / f"revisitop1m.{number}.tar.gz").write_bytes(make_tar_gz({n: jpeg(c) for n, c in members.items()}))
    (site / "revisitop1m.txt").write_text(IMAGE_LIST)
    server = StaticServer(site)
    spec = local_manifest("revisitop1m", server.url)
    spec["files"] = [entry for entry in spec["files"]
                     if entry["name"] in ("revisitop1m.1.tar.gz", "revisitop1m.2.tar.gz", "revisitop1m.txt")]
    spec["images"] = [entry["extract_to"] for entry in spec["files"] if entry.get("extract_to")]
    yield spec, tmp_path / "cache"
    server.close()


def test_the_real_manifest_names_all_hundred_archives_and_invents_no_checksum():
    spec = load_manifest("revisitop1m")
    archives = [e for e in spec["files"] if e["name"].endswith(".tar.gz")]
    assert len(archives) == 100 and archives[0]["url"].endswith("/revisitop1m/jpg/revisitop1m.1.tar.gz")
    assert all(e["sha256"] is None and e["size"] is None for e in spec["files"])
    assert "trust on first use" in spec["checksums"] and "Radenovic" in spec["citation"]
    assert "revisitop1m" in DATASETS and spec["format"] == "distractors"


def test_r1m_downloads_records_checksums_and_loads_in_list_order(served):
    spec, cache = served
    ds = load_dataset("revisitop1m", root=cache, manifest=spec, progress=False)
    assert [p.relative_to(cache).as_posix() for p in ds.images] == [
        "revisitop1m/jpg/001/jpg/00/0c2d.jpg", "revisitop1m/jpg/002/01/1e3f.jpg", "revisitop1m/jpg/001/jpg/00/0a1b.jpg"]
    assert ds.queries == [] and ds.gnd == [] and "Radenovic" in ds.citation
    trusted = json.loads((cache / "trusted_sha256.json").read_text())
    assert set(trusted) == {entry["url"] for entry in spec["files"]}  # recorded on first download
    again = load_dataset("revisitop1m", root=cache, manifest=spec, download=False)
    assert again.images == ds.images


def test_an_image_missing_from_the_archives_is_one_clear_error(served):
    spec, cache = served
    load_dataset("revisitop1m", root=cache, manifest=spec, progress=False)
    (cache / "revisitop1m" / "jpg" / "002" / "01" / "1e3f.jpg").unlink()
    with pytest.raises(DatasetNotAvailable, match="1 images of revisitop1m.txt are not in the extracted archives "
                                                  r"\(first: 01/1e3f.jpg\)"):
        load_dataset("revisitop1m", root=cache, manifest=spec, download=False)
    (cache / "revisitop1m" / "revisitop1m.txt").write_text(IMAGE_LIST + "02/9999\n")  # the list is verified too
    with pytest.raises(DatasetNotAvailable, match="sha256 mismatch"):
        load_dataset("revisitop1m", root=cache, manifest=spec, download=False)


def test_r1m_is_extracted_into_shards(served, tmp_path):
    from course_lib.index.shards import extract_dataset, load_method, read_manifest
    from course_lib.models import load_backbone

    spec, cache = served
    ds = load_dataset("revisitop1m", root=cache, manifest=spec, progress=False)
    manifest = extract_dataset(ds, load_backbone(), ["gem"], tmp_path / "shards", shard_size=2, max_side=32,
                               progress=False)
    assert manifest["complete"] and manifest["n_shards"] == 2 and "queries" not in manifest
    assert read_manifest(tmp_path / "shards")["image_ids"][0] == "jpg/001/jpg/00/0c2d.jpg"
    x = load_method(tmp_path / "shards", "gem")
    assert x.shape == (3, 1280) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
