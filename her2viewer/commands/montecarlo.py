"""`her2viewer montecarlo POOL.json [POOL2.json ...] --out DIR`: the paper's Monte Carlo study of N and k.

Pools come from `her2viewer score --method pss --pool M [--label L]`; labels come from the pools or from
`--labels CSV` (columns file[,core],label, e.g. a synthetic data set's labels.csv).
"""

from __future__ import annotations

import argparse
import json
import logging

from . import fail

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `her2viewer montecarlo`."""
    parser.add_argument("pools", nargs="+", metavar="POOL.json", help="PSS pool file(s)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (CSV, PNG, summary.json)")
    parser.add_argument("--labels", default=None, metavar="CSV", help="labels: columns file[,core],label")
    parser.add_argument("--draws", type=int, default=10_000, help="random draws per setting (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("-k", "--top-k", dest="top_k", type=int, default=5, help="k for the N study (default 5)")
    parser.add_argument("--n-max", type=int, default=200, help="largest N, and N of the k study (default 200)")


def run(args: argparse.Namespace) -> int:
    """Run the study and write its files; one-line errors naming the file."""
    from ..scoring.montecarlo import K_VALUES, PoolError, load_pools, write_study

    if args.draws < 1 or args.n_max < 1 or args.top_k < 1:
        return fail("--draws, --n-max and -k must be at least 1")
    try:
        cores = load_pools(args.pools, args.labels)
        summary = write_study(args.out, cores, draws=args.draws, seed=args.seed, k=args.top_k,
                              n_values=list(range(1, args.n_max + 1)),
                              k_values=[k for k in K_VALUES if k <= args.n_max], n_for_k=args.n_max)
    except PoolError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"cannot write the study to {args.out}: {e}")
    print(json.dumps(summary, indent=1))
    return 0
