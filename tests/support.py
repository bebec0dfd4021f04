"""Helpers shared by the tests that serve archives and datasets over a local HTTP server."""
import copy
import dataclasses
import functools
import io
import json
import socket
import tarfile
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import skimage.data as sd
from PIL import Image

from course_lib.datasets import load_manifest


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    """A .tar.gz in memory holding `members` (name -> bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    """A .zip in memory holding `members` (name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def unused_port() -> int:
    """A loopback port nothing listens on (for 'connection refused', i.e. offline)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackServer:
    """An HTTP server on 127.0.0.1 (a free port) running in a daemon thread until `close()`."""

    def serve(self, handler) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{path.lstrip('/')}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class StaticServer(LoopbackServer):
    """Serves a folder over HTTP on 127.0.0.1 and counts the requests."""

    def __init__(self, folder: Path):
        self.requests = 0
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                super().do_GET()

            def log_message(self, *args):
                pass

        self.serve(functools.partial(Handler, directory=str(folder)))


def local_manifest(name: str, url_of) -> dict:
    """The real manifest of `name`, every file fetched from `url_of(file name)` instead."""
    spec = copy.deepcopy(load_manifest(name))
    for entry in spec["files"]:
        entry["url"], entry["mirrors"] = url_of(entry["name"]), []
    return spec


def write_folder_dataset(root: Path) -> Path:
    """A dataset folder in `root`: four objects photographed three ways each (crops and a colour change), one
    query per object."""
    (root / "images" / "views").mkdir(parents=True)
    (root / "queries").mkdir()
    photos = {"astronaut": sd.astronaut(), "coffee": sd.coffee(), "chelsea": sd.chelsea(), "rocket": sd.rocket()}
    queries = []
    for name, arr in photos.items():
        img = Image.fromarray(arr)
        w, h = img.size
        img.resize((w // 2, h // 2)).save(root / "queries" / f"{name}.jpg")
        views = [img.crop((0, 0, w * 3 // 4, h * 3 // 4)), img.crop((w // 4, h // 4, w, h)),
                 Image.fromarray((np.asarray(img) * 0.6).astype(np.uint8))]
        for i, view in enumerate(views):
            view.resize((view.width // 3, view.height // 3)).save(root / "images" / "views" / f"{name}_{i}.jpg")
        queries.append({"query": f"queries/{name}.jpg", "bbox": [0, 0, w // 2, h // 2],
                        "positives": [f"images/views/{name}_{i}.jpg" for i in range(3)]})
    (root / "ground_truth.json").write_text(json.dumps({"queries": queries}))
    return root


def first_photo(dataset, n_queries):
    """The first `n_queries` queries with the database images of the first photo only (small and fast)."""
    photo = dataset.extra["image_photo"][dataset.gnd[0]["easy"][0]]
    keep = [i for i, p in enumerate(dataset.extra["image_photo"]) if p == photo]
    new = {old: k for k, old in enumerate(keep)}
    gnd = [{level: [new[i] for i in g[level] if i in new] for level in ("easy", "hard", "junk")}
           for g in dataset.gnd[:n_queries]]
    extra = {**dataset.extra, "image_photo": [photo] * len(keep),
             "image_object": [dataset.extra["image_object"][i] for i in keep]}
    return dataclasses.replace(dataset, images=[dataset.images[i] for i in keep], queries=dataset.queries[:n_queries],
                               bboxes=dataset.bboxes[:n_queries], gnd=gnd, extra=extra)
