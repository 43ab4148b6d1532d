"""`her2viewer score PATH`: score a slide or core image and print the result.

`--json OUT` writes the contract's JSON object to OUT (`-`: stdout); without it a short human summary goes
to stdout. `--pool M` (PSS only) also writes M PSS probability rows per core to `--pool-out` for the Monte
Carlo study (`her2viewer montecarlo`). Exit 0 on success; 3 when the input checks find the image not
assessable (not HER2 DAB IHC, no tissue, too few tumour cells, out of focus: the JSON is still written,
with null scores; `--force` scores anyway and keeps the warning); otherwise 2 with one line on stderr naming
the file. `--mpp X` sets the slide's pixel size (um/px), overriding the file's and any estimate.

`--annotations A.geojson` (QuPath-style GeoJSON): with `--within NAME_OR_ID` only the tissue inside that
annotation is scored (matched by name, else id; its Ignore annotations cut out); without it the usual scope
(a TMA core by core, else the tissue) is scored minus the Ignore annotations. `--keep-ignore` keeps them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from . import fail

log = logging.getLogger(__name__)

POOL_FORMAT = "her2viewer-pss-pool/1"
#: exit status when the input checks find the image not assessable (the JSON is still written)
NOT_ASSESSABLE_EXIT = 3


def _extra(args: argparse.Namespace) -> dict:
    """Method-specific options for ScoreOptions.extra (a stain profile: ProfileError naming the file)."""
    extra: dict = {"batch_size": args.batch_size}
    if getattr(args, "profile", None):
        from ..scoring.rules.profile import StainProfile, profile_extra

        extra["rules"] = profile_extra(StainProfile.load(args.profile))
    if args.aggregator:
        extra["aggregator"] = args.aggregator
    if args.patch_aggregator:
        extra["patch_aggregator"] = args.patch_aggregator
    return extra


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `her2viewer score`."""
    parser.add_argument("path", help="slide or core image file")
    parser.add_argument("--method", default="rules",
                        help="scoring method: pss, rules, mil, lowres or patch (default rules: needs no trained model)")
    parser.add_argument("--aggregator", default=None, choices=["abmil", "clam_sb", "clam_mb", "dtfd"],
                        help="MIL aggregator for --method mil (default: the checkpoint's)")
    parser.add_argument("--patch-aggregator", default=None, choices=["vote", "rf", "svm", "mlp"],
                        help="slide-level aggregator for --method patch (default: the checkpoint's)")
    parser.add_argument("--json", dest="json_out", metavar="OUT", default=None,
                        help="write the JSON result to OUT ('-' for stdout)")
    parser.add_argument("--report", metavar="OUT.pdf", default=None, help="also write a PDF report")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the network runs")
    parser.add_argument("-N", "--samples", dest="n_samples", type=int, default=20, help="PSSs per core (default 20)")
    parser.add_argument("-k", "--top-k", dest="top_k", type=int, default=5,
                        help="most confident PSSs kept (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--model", default=None, metavar="CKPT",
                        help="checkpoint (PATH, PATH.safetensors or PATH.json); default: the bundled model")
    parser.add_argument("--scope", default="auto",
                        help="auto | slide | cores | X,Y,W,H (a level-0 box); default auto: TMA cores or tissue")
    parser.add_argument("--batch-size", type=int, default=10, help="PSSs or patches per forward pass (default 10)")
    parser.add_argument("--ish-positive", action="store_true", help="ISH is positive: 2+ maps to High")
    parser.add_argument("--pool", type=int, default=0, metavar="M",
                        help="also write a pool of M PSS predictions per core (Monte Carlo study)")
    parser.add_argument("--pool-out", default=None, metavar="FILE",
                        help="where the pool goes (default: ./<slide name>.pss_pool.json)")
    parser.add_argument("--annotations", default=None, metavar="A.geojson",
                        help="annotations (GeoJSON); Ignore annotations are cut out of what is scored")
    parser.add_argument("--within", default=None, metavar="NAME_OR_ID",
                        help="score only inside this annotation (name, else id) from --annotations")
    parser.add_argument("--keep-ignore", action="store_true",
                        help="do not cut the Ignore annotations out of what is scored")
    parser.add_argument("--label", default=None, choices=["0", "1+", "2+", "3+"],
                        help="known score of the slide/core, stored in the pool")
    add_mpp_argument(parser)
    parser.add_argument("--force", action="store_true",
                        help="score even when the input checks say the image is not assessable")
    parser.add_argument("--measurements", default=None, metavar="OUT.csv",
                        help="also write the measurement table (slide and cores: tumour cells, %% per membrane "
                        "pattern, H-score) as CSV")
    parser.add_argument("--criteria", default="breast", choices=["breast", "gastric"],
                        help="scoring criteria: breast (ASCO/CAP 2018/2023, default) or gastric (ASCO/CAP/ASCP "
                        "2016 gastro-oesophageal adenocarcinoma)")
    parser.add_argument("--specimen", default="resection", choices=["resection", "biopsy"],
                        help="with --criteria gastric: resection (>= 10%% of tumour cells, default) or biopsy "
                        "(a cohesive cluster of >= 5 cells)")
    parser.add_argument("--profile", default=None, metavar="PROFILE.json",
                        help="stain profile for the rules scorer (from `her2viewer calibrate`; default: shipped)")
    parser.add_argument("--min-tumour-cells", type=int, default=50, metavar="N",
                        help="fewer invasive tumour cells (rules) is not assessable (default 50; a warning "
                        "below 200)")


def add_mpp_argument(parser: argparse.ArgumentParser) -> None:
    """`--mpp X`: the slide's pixel size, overriding the file's and any estimate (every command)."""
    parser.add_argument("--mpp", type=float, default=None, metavar="UM_PER_PX",
                        help="the slide's pixel size in um/px (overrides the file's and the estimate from the image)")


def check_mpp(value: float | None) -> str | None:
    """A one-line problem with a --mpp value, or None when it is usable."""
    import math

    if value is None:
        return None
    if not math.isfinite(value) or not 0.01 <= value <= 20.0:
        return f"--mpp {value} is not a plausible pixel size (use 0.01-20 um/px, e.g. 0.25 for 40x, 0.5 for 20x)"
    return None


def parse_scope(text: str) -> Any:
    """'auto' | 'slide' | 'cores' | 'X,Y,W,H' -> scope for score_slide."""
    from ..slide.region import Region

    if text in ("auto", "slide", "cores"):
        return text
    try:
        x, y, w, h = (int(float(v)) for v in text.split(","))
    except ValueError as e:
        raise ValueError(f"--scope must be auto, slide, cores or X,Y,W,H, not {text!r}") from e
    if w <= 0 or h <= 0:
        raise ValueError(f"--scope box {text!r} has no area")
    return Region((x, y, w, h), None, "region")


class AnnotationScopeError(ValueError):
    """The annotations cannot give a scope; the message is the whole line for the user."""


def find_annotation(annotations: list[Any], key: str, path: str) -> Any:
    """The annotation named `key` (else with id `key`); AnnotationScopeError listing the names if none."""
    for field in ("name", "id"):
        hits = [a for a in annotations if getattr(a, field) == key]
        if hits:
            if len(hits) > 1:
                log.warning("%d annotations in %s are called %r; using the first", len(hits), path, key)
            return hits[0]
    names = sorted({a.name for a in annotations if a.name})
    listed = ", ".join(repr(n) for n in names) if names else "none has a name; use an id"
    raise AnnotationScopeError(f"{path} has no annotation named or with id {key!r}; names: {listed}")


def annotation_scope(args: argparse.Namespace, source: Any, scope: Any) -> tuple[Any, Any, dict]:
    """(scope, exclude geometry, params to record) from --annotations / --within / --keep-ignore."""
    from ..annotations.geojson import AnnotationIOError, read_geojson
    from ..annotations.model import IGNORE_CLASS
    from ..annotations.regions import RegionError, polygonal_union, scoring_region

    if not args.annotations:
        return scope, None, {}
    try:
        anns = read_geojson(args.annotations).annotations
    except AnnotationIOError as e:
        raise AnnotationScopeError(f"cannot read the annotations {e}") from None
    ignore = [] if args.keep_ignore else [a for a in anns if a.cls == IGNORE_CLASS]
    params: dict = {"annotations": str(args.annotations), "ignore_excluded": len(ignore)}
    if args.within is None:
        exclude = polygonal_union(a.geometry for a in ignore)
        return scope, exclude, params
    within = find_annotation(anns, args.within, args.annotations)
    try:
        region = scoring_region(source, anns, within=within, exclude_ignore=not args.keep_ignore)
    except RegionError as e:
        raise AnnotationScopeError(f"cannot score inside {args.within!r} of {args.annotations}: {e}") from None
    params["within"] = within.name or within.id
    return region, None, params


def summary_text(result: Any) -> str:
    """A short human-readable summary of a ScoreResult."""
    qc = result.qc or {}
    if not result.assessable:
        lines = [f"{result.slide}: NOT ASSESSABLE  [{result.method}]"]
        lines += [f"  - {m}" for m in qc.get("messages", [])]
        return "\n".join(lines)
    probs = "  ".join(f"{k}: {v:.2f}" for k, v in result.probabilities.items())
    call = f"HER2 {result.score} ({result.score3})" if result.score else f"HER2 {result.score3} (3-way model)"
    lines = [f"{result.slide}: {call}"
             + (f", HER2-{result.subclass}" if result.subclass else "")
             + f"  [{result.method}, {result.model.name}]",
             f"  probabilities  {probs}"]
    if result.explanation:
        lines.append(f"  {result.explanation}")
    if qc.get("status") == "warning":
        lines += [f"  QC warning: {m}" for m in qc.get("messages", [])]
    if result.cores:
        lines.append("  cores: " + ", ".join(f"{c.id} {c.score}" for c in result.cores))
    lines.append(f"  {result.elapsed_s:.1f} s")
    return "\n".join(lines)


def write_pool(path: Path, source: Any, options: Any, scope: Any, m: int, label: str | None,
               exclude: Any = None) -> None:
    """Predict M PSSs per core and write the pool JSON."""
    from ..atomic import atomic_write_text
    from ..scoring.base import create_scorer
    from ..tissue.regions import regions_for

    scorer = create_scorer("pss", options)
    kind, regions = regions_for(source, scope, exclude=exclude)
    cores = []
    for region in regions:
        pred = scorer.predict(source, region, m)
        cores.append({"slide": str(source.path), "id": region.id, "bbox": list(region.l0_bbox), "label": label,
                      "probabilities": [[round(float(v), 6) for v in row] for row in pred.probabilities]})
    doc = {"format": POOL_FORMAT, "method": "pss", "model": {"name": scorer.card.name, "sha256": scorer.card.sha256},
           "classes": list(scorer.card.classes), "spec": scorer.spec.to_dict(), "seed": options.seed,
           "scope": kind, "cores": cores}
    atomic_write_text(path, json.dumps(doc) + "\n")
    log.info("pool of %d PSSs x %d core(s) written to %s", m, len(cores), path)


def _argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the scoring arguments (a sentence), or None."""
    from ..scoring.base import available_methods

    if args.method not in available_methods():
        return f"unknown method {args.method!r}; available: {', '.join(available_methods())}"
    if args.n_samples < 1 or args.top_k < 1:
        return "-N and -k must be at least 1"
    if args.pool and args.method != "pss":
        return "--pool needs --method pss"
    if problem := check_mpp(args.mpp):
        return problem
    if args.min_tumour_cells < 0:
        return "--min-tumour-cells must be 0 or more"
    if (args.within or args.keep_ignore) and not args.annotations:
        return "--within and --keep-ignore need --annotations A.geojson"
    if args.within and args.scope != "auto":
        return "--within and --scope cannot be combined: --within is the scope"
    return None


def _write_result(args: argparse.Namespace, result: Any) -> int:
    """Print the summary or write the JSON (`--json`, '-' for stdout); the exit code says if it was assessable."""
    code = 0 if result.assessable else NOT_ASSESSABLE_EXIT
    if not result.assessable:
        print(f"her2viewer: {args.path} is not assessable: " + "; ".join((result.qc or {}).get("messages", [])),
              file=sys.stderr)
    if args.json_out is None:
        print(summary_text(result))
        return code
    text = result.to_json(indent=1)
    if args.json_out == "-":
        sys.stdout.write(text + "\n")
        return code
    try:
        from ..atomic import atomic_write_text

        atomic_write_text(Path(args.json_out), text + "\n")
    except OSError as e:
        return fail(f"cannot write {args.json_out}: {e}")
    return code


def run(args: argparse.Namespace) -> int:
    """Score the slide; print JSON or a summary; one-line errors naming the file."""
    from ..models.checkpoint import CheckpointError
    from ..scoring.base import ScoreOptions
    from ..scoring.driver import score_slide
    from ..slide import SlideOpenError, open_slide
    from ..tissue.regions import NothingToScoreError

    if problem := _argument_problem(args):
        return fail(problem)
    from ..scoring.rules.profile import ProfileError

    try:
        extra = _extra(args)
    except ProfileError as e:
        return fail(str(e))
    options = ScoreOptions(n_samples=args.n_samples, top_k=args.top_k, seed=args.seed, device=args.device,
                           model_path=args.model, ish_positive=True if args.ish_positive else None,
                           extra=extra, mpp=args.mpp, force=args.force, criteria=args.criteria,
                           specimen=args.specimen,
                           min_tumour_cells=args.min_tumour_cells)
    try:
        scope = parse_scope(args.scope)
        with open_slide(args.path) as source:
            scope, exclude, ann_params = annotation_scope(args, source, scope)
            result = score_slide(source, args.method, options, scope=scope, exclude=exclude)
            result.params.update(ann_params)
            if args.pool and result.assessable:
                out = Path(args.pool_out or f"{Path(args.path).stem}.pss_pool.json")
                write_pool(out, source, options, scope, args.pool, args.label, exclude)
            if args.measurements:
                from ..scoring.measurements import write_measurements_csv

                write_measurements_csv(result, args.measurements)
            if args.report:
                from ..report.pdf import write_report

                write_report(args.report, result, source=source)
    except (SlideOpenError, AnnotationScopeError) as e:
        return fail(str(e))
    except CheckpointError as e:
        return fail(f"bad model checkpoint: {e}")
    except NothingToScoreError as e:
        return fail(f"{e} (the Ignore annotations of {args.annotations})" if args.annotations else str(e))
    except (ValueError, RuntimeError) as e:
        log.debug("scoring failed", exc_info=True)
        return fail(f"cannot score {args.path}: {e}")
    except OSError as e:
        return fail(f"cannot score {args.path}: {e}")
    except Exception as e:  # noqa: BLE001 - a user gets one line, the log gets the traceback
        log.debug("scoring failed", exc_info=True)
        return fail(f"cannot score {args.path}: {type(e).__name__}: {e}")
    return _write_result(args, result)
