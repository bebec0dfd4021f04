"""`log FILE`: a team's experiment log (`evaluate --log`) as a table of runs, and mAP over the runs as a figure."""
from __future__ import annotations

from ..cli import check_figure_file


def add_parser(sub) -> None:
    log = sub.add_parser("log", help="show an experiment log (evaluate --log) as a table of runs",
                         description="Print every run of an experiment log, one row per method: date, data, "
                                     "settings, mAP, the kit's commit, seed and note.")
    log.add_argument("file", metavar="FILE", help="the experiment log (JSON Lines, written by evaluate --log)")
    log.add_argument("--plot", metavar="FILE", help="also draw the mAP of each method over the runs "
                                                    "(.png, .pdf or .svg)")
    log.set_defaults(func=run)


def run(args) -> int:
    from ..experiment import log_table, read_log

    plot_path = check_figure_file("--plot", args.plot) if args.plot else None
    runs = read_log(args.file)
    if not runs:
        raise ValueError(f"{args.file}: no runs yet (evaluate DATASET --log {args.file} adds one)")
    table = log_table(runs)
    print(table.to_string(index=False))
    if plot_path is not None:
        from ..files import save_figure
        from ..viz.runs import map_over_runs

        save_figure(map_over_runs(table, title=f"mAP over the runs of {args.file}"), plot_path)
        print(f"figure: {args.plot}")
    return 0
