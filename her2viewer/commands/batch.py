"""`her2viewer batch SOURCE --method M [--project DIR] [--workers N] [--engine local|ray]`: score every image of
a project or a folder (every core of a TMA), resumable, with progress, one error row per bad file, and a cohort
table (CSV and JSON, one row per slide and per core) written into the project folder.

SOURCE is a project folder, a folder of slides or one slide. A folder's project is `--project DIR` (created if
absent), else the per-user default project; nothing is written beside the slides.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import fail
from .score import add_mpp_argument, check_mpp

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the batch command."""
    parser.add_argument("source", help="a project folder, a folder of slides, or one slide")
    parser.add_argument("--method", default="rules", help="scoring method (default rules)")
    parser.add_argument("--project", default=None, metavar="DIR",
                        help="project folder for a folder of slides (created if absent; default: the per-user one)")
    parser.add_argument("--workers", type=int, default=2, help="images scored at once (default 2)")
    parser.add_argument("--engine", default="local", choices=["local", "ray"],
                        help="local worker processes (default) or Ray tasks")
    parser.add_argument("--ray-address", default=None, metavar="A",
                        help="an existing Ray cluster (default: start a local one)")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"],
                        help="where networks run (cuda: one GPU per Ray task)")
    parser.add_argument("--model", default=None, metavar="CKPT", help="checkpoint (default: the bundled model)")
    parser.add_argument("--tma-map", default=None, metavar="CSV",
                        help="core_id,patient_id[,case_id] of the TMA slides in SOURCE (applied to each)")
    parser.add_argument("--profile", default=None, metavar="PROFILE.json", help="stain profile for the rules scorer")
    parser.add_argument("--criteria", default="breast", choices=["breast", "gastric"], help="scoring criteria")
    parser.add_argument("--out", default=None, metavar="STEM",
                        help="cohort table name in the project folder (default cohort-<method>)")
    add_mpp_argument(parser)


def _progress(fraction: float, message: str) -> None:
    width = 30
    filled = int(round(width * max(0.0, min(1.0, fraction))))
    end = "\n" if not sys.stderr.isatty() else "\r"
    print(f"[{'#' * filled}{'.' * (width - filled)}] {100 * fraction:5.1f}% {message}"[:150].ljust(100),
          end=end, file=sys.stderr, flush=True)


def _project_and_paths(args: argparse.Namespace, source: Path):
    """The project to score into and the images to score: an existing project's slides, or `source` added
    to --project (default: the per-user project). ProjectError when it cannot be opened."""
    from ..project import Project

    if Project.is_project(source):
        project = Project.open(source)
        return project, [s.path for s in project.db.slides()]
    project = Project.create(args.project) if args.project else Project.default()
    added, problems = project.add_images([source])
    for p in problems:
        print(f"her2viewer: {p}", file=sys.stderr)
    return project, [s.path for s in added]


def run(args: argparse.Namespace) -> int:
    """Run the batch; 0 when every image was scored, 1 when some had errors (their rows say why)."""
    from ..batch import BatchSettings, cohort_rows, run_batch, write_cohort
    from ..progress import Task
    from ..project import ProjectError
    from ..project.tma_map import read_tma_map
    from ..scoring.base import ScoreOptions, available_methods

    if args.method not in available_methods():
        return fail(f"unknown method {args.method!r}; available: {', '.join(available_methods())}")
    if args.workers < 1:
        return fail("--workers must be at least 1")
    if problem := check_mpp(args.mpp):
        return fail(problem)
    source = Path(args.source).expanduser()
    if not source.exists():
        return fail(f"{source}: no such file or folder")
    extra: dict = {}
    try:
        if args.profile:
            from ..scoring.rules.profile import ProfileError, StainProfile, profile_extra

            try:
                extra["rules"] = profile_extra(StainProfile.load(args.profile))
            except ProfileError as e:
                return fail(str(e))
        tma = read_tma_map(args.tma_map) if args.tma_map else None
        project, paths = _project_and_paths(args, source)
    except ProjectError as e:
        return fail(str(e))
    if not paths:
        return fail(f"{source}: no slide or image files to score")
    with project:
        if tma:
            for p in paths:
                project.db.set_tma_map(p, tma)
        options = ScoreOptions(device=args.device, model_path=args.model, mpp=args.mpp, criteria=args.criteria,
                               extra=extra)
        settings = BatchSettings(args.method, options, args.engine, args.workers, args.ray_address,
                                 1.0 if args.engine == "ray" and args.device == "cuda" else 0.0)
        print(f"her2viewer: scoring {len(paths)} images with {args.method} into the project {project.folder}",
              file=sys.stderr)
        from ..batch.engines import EngineError

        try:
            summary = run_batch(project, paths, settings, Task(progress=_progress))
        except EngineError as e:
            return fail(str(e))
        except KeyboardInterrupt:
            print("\nher2viewer: interrupted; run the same command again to go on", file=sys.stderr)
            return 130
        rows = cohort_rows(project, args.method)
        csv_path, json_path = write_cohort(rows, project.folder, args.out or f"cohort-{args.method}")
    for error in summary.errors.values():
        print(f"her2viewer: error: {error}", file=sys.stderr)
    print(f"{summary.scored} scored, {summary.cached} already scored, {len(summary.errors)} errors of "
          f"{summary.total} in {summary.elapsed_s:.1f} s; cohort table: {csv_path} and {json_path.name}")
    return 1 if summary.errors else 0
