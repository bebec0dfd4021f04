"""`search DATASET --query IMAGE`: rank a dataset for one query image and say where the object is in each result
(a box by localization on the conv map, or by the best-matching region of a faiss region index)."""
from __future__ import annotations

from pathlib import Path

from ..cli import (add_device_option, add_image_size_option, add_quiet_option, check_figure_file, positive_int,
                   real_number)


def add_parser(sub) -> None:
    se = sub.add_parser("search", help="search a dataset with one query image; print the top results with boxes",
                        description="Rank DATASET for the query image (global R-MAC, or regions with --regions) and "
                                    "print rank, score, image and the box of the query object in it.")
    se.add_argument("dataset", help="a registered dataset name or a path to a dataset folder")
    se.add_argument("--query", required=True, metavar="IMAGE", help="the query image file")
    se.add_argument("--bbox", type=float, nargs=4, metavar=("X1", "Y1", "X2", "Y2"),
                    help="the query object's box in pixels of the query image (default: the whole image)")
    se.add_argument("--regions", action="store_true",
                    help="rank by the best region of each image (RoI Align regions in one faiss index)")
    se.add_argument("--detector", metavar="FILE",
                    help="with --regions: the regions are the boxes this detector finds in each database image "
                         "(a `train-detector` checkpoint, DIR/last.pt), plus the whole image, instead of the "
                         "R-MAC grid")
    se.add_argument("--min-score", type=real_number(0, 1), default=0.05, metavar="S",
                    help="with --detector: the lowest detection score kept as a region, 0..1 (default 0.05)")
    se.add_argument("--top", type=positive_int, default=10, metavar="K", help="results to print (default 10)")
    add_image_size_option(se, 512, "longer image side fed to the network")
    se.add_argument("--plot", "--show", dest="show", metavar="FILE",
                    help="save a figure of the query and the top results with boxes (as `evaluate --plot`)")
    add_device_option(se)
    add_quiet_option(se, "no progress bars: stderr holds only warnings and errors")
    se.set_defaults(func=run)


def run(args) -> int:
    from tqdm.auto import tqdm

    from ..datasets import load_dataset
    from ..detection.evaluate import MapStore
    from ..detection.localize import localize, query_vector
    from ..detection.region_search import build_region_index, search_regions
    from ..features import conv_map, describe_images, extract_descriptors
    from ..images import image_size
    from ..index.exact import rank_database
    from ..models import load_backbone

    if args.detector and not args.regions:
        raise ValueError("--detector proposes the regions of --regions: add --regions")
    detector_file = Path(args.detector).expanduser() if args.detector else None
    if detector_file is not None:
        from ..detection.checkpoint import read_detector_sidecar

        read_detector_sidecar(detector_file)  # a missing or foreign checkpoint fails before any work
    query = Path(args.query)
    width, height = image_size(query)
    bbox = None
    if args.bbox is not None:
        x1, y1, x2, y2 = args.bbox
        if not (x2 > x1 and y2 > y1 and x1 < width and y1 < height and x2 > 0 and y2 > 0):
            raise ValueError(f"--bbox {x1:g} {y1:g} {x2:g} {y2:g} is empty or outside the {width}x{height} "
                             f"image {query}")
        bbox = (x1, y1, x2, y2)
    show_path = check_figure_file("--show", args.show) if args.show else None
    dataset = load_dataset(args.dataset, progress=not args.quiet)
    backbone = load_backbone(device=args.device)
    maps = MapStore(dataset, backbone, max_side=args.max_side)
    query_mac = query_vector(conv_map(backbone, query, max_side=args.max_side, bbox=bbox))
    if args.regions:
        proposals, proposed_by = None, "R-MAC grid"
        if detector_file is not None:
            from ..detection.checkpoint import load_detector
            from ..detection.region_search import detector_boxes

            model = load_detector(detector_file, device=args.device, backbone=backbone)[0]

            def proposals(i):
                return detector_boxes(model, dataset.images[i], args.max_side, score_threshold=args.min_score)

            proposed_by = f"detector {detector_file.name} + whole images"
        with tqdm(total=len(dataset), desc="region descriptors", unit="img", disable=args.quiet) as bar:
            def maps_counted(i):
                found = maps.image(i)
                bar.update()
                return found

            index = build_region_index(maps_counted, maps.image_sizes, range(len(dataset)), proposals=proposals)
        results = search_regions(index, query_mac.float().numpy(), args.top)
        how = f"best of {len(index)} regions: {proposed_by}"
    else:
        db = extract_descriptors(dataset, backbone, ["rmac"], max_side=args.max_side,
                                 progress=not args.quiet).db["rmac"]
        q = describe_images([query], backbone, ["rmac"], args.max_side, bboxes=[bbox], progress=False)["rmac"]
        ranking = rank_database(db, q)[: args.top, 0]
        results = []
        for i in ranking.tolist():
            found = localize(maps.image(i), query_mac, maps.image_sizes[i], "refine")
            results.append((i, float(db[i] @ q[0]), found.box))
        how = "global R-MAC; box by refinement on the conv map"
    print(f"{dataset.name}: top {len(results)} for {query.name} ({how})")
    print(f"{'rank':>4}  {'score':>6}  {'box (x1 y1 x2 y2)':>22}  image")
    for rank, (i, score, box) in enumerate(results, start=1):
        shown = " ".join(f"{v:.0f}" for v in box)
        print(f"{rank:>4}  {score:6.3f}  {shown:>22}  {Path(dataset.images[i]).relative_to(dataset.root)}")
    if show_path is not None:
        from ..files import save_figure
        from ..viz.detection import search_results

        save_figure(search_results(query, bbox, dataset, results), show_path)
        print(f"figure: {args.show}")
    return 0

