"""`check DIR`: load a team's dataset folder as `evaluate` would, open every image, and say what is wrong."""
from __future__ import annotations

from ..cli import add_quiet_option


def add_parser(sub) -> None:
    check = sub.add_parser("check", help="validate a dataset folder (images/, queries/, ground_truth.json)",
                           description="Load a dataset folder as `evaluate` would, check every box against its "
                                       "image's size and open every image; say in one line what is wrong. "
                                       "Nothing is written.")
    check.add_argument("folder", metavar="DIR", help="the dataset folder (images/, queries/, ground_truth.json)")
    check.add_argument("--decode", action="store_true",
                       help="decode every image's pixels as evaluate does (finds truncated files; a few ms per "
                            "image), not only its header (finds files that are no image at all; fast)")
    add_quiet_option(check, "no progress bar")
    check.set_defaults(func=run)


def run(args) -> int:
    from ..datasets import load_folder
    from ..datasets.folder import check_images

    dataset = load_folder(args.folder)
    every_image = list(dict.fromkeys([*dataset.images, *dataset.queries]))  # a query may be a database image
    check_images(every_image, decode=args.decode, progress=not args.quiet)
    print(f"ok: {dataset.summary()}")
    return 0
