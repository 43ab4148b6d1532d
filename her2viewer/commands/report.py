"""`her2viewer report SLIDE [--result R.json] [--review REVIEW.json] --out report.pdf`: the PDF report.

Without --result the slide is scored first with --method (default: the rule-based scorer).
"""

from __future__ import annotations

import argparse
import logging

from . import fail

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the report command."""
    parser.add_argument("slide", help="slide or image file")
    parser.add_argument("--out", required=True, help="the PDF to write")
    parser.add_argument("--result", default=None, help="score result JSON (from `her2viewer score --json`)")
    parser.add_argument("--review", default=None,
                        help='review JSON: {"score", "ish_positive", "reviewer", "time", "comment"} (default: the '
                             "reviews stored for the slide in its project, as saved in the viewer)")
    parser.add_argument("--project", default=None, metavar="DIR",
                        help="the project holding the slide's reviews (default: the per-user project)")
    parser.add_argument("--method", default="rules", help="scorer to run when --result is absent (default rules)")
    parser.add_argument("--case-id", default="", help="case / accession number")
    parser.add_argument("--patient-id", default="", help="patient id")
    parser.add_argument("--specimen", default="", help="specimen description")
    parser.add_argument("--block", default="", help="tissue block id")
    parser.add_argument("--clone", default="", help="antibody clone (e.g. 4B5)")
    parser.add_argument("--date", default="", help="report date (default: now)")
    parser.add_argument("--tma-map", default=None, metavar="CSV",
                        help="TMA map (core id -> patient / case id, as for `batch`): the per-core table shows "
                             "each core's patient; a multi-patient TMA gets no slide-level score")
    parser.add_argument("--mpp", type=float, default=None, metavar="UM_PER_PX",
                        help="the slide's pixel size in um/px (overrides the file's and the estimate)")
    parser.add_argument("--force", action="store_true",
                        help="score even when the input checks say the image is not assessable")


def run(args: argparse.Namespace) -> int:
    """Write the report; 0 on success."""
    from ..report.model import ReportInputError, ReviewInfo, case_from_source
    from ..report.pdf import write_report
    from ..scoring.result import ContractError, ScoreResult
    from ..slide import SlideOpenError, open_slide
    from .score import check_mpp

    if problem := check_mpp(args.mpp):
        return fail(problem)
    try:
        core_patients = _core_patients(args.tma_map)
        review = ReviewInfo.load(args.review) if args.review else None
        result = ScoreResult.load(args.result) if args.result else None
    except (ReportInputError, ContractError) as e:
        return fail(str(e))
    try:
        source = open_slide(args.slide)
    except SlideOpenError as e:
        if result is None:
            return fail(str(e))
        log.warning("%s; the report will have no thumbnail", e)
        source = None
    try:
        if source is not None:
            from ..qc.pixel_size import resolve_pixel_size

            # the scored result's pixel size, else the user's / file's / estimate: the case table shows it
            qc_mpp = (result.qc or {}).get("mpp") if result is not None and args.mpp is None else None
            qc_src = (result.qc or {}).get("mpp_source") if result is not None else None
            if qc_mpp and qc_src and not (source.mpp and qc_src == "file"):
                source.set_pixel_size(float(qc_mpp), qc_src, (result.qc or {}).get("mpp_uncertainty"))
            else:
                resolve_pixel_size(source, args.mpp)
        if result is None:
            try:
                result = _score(source, args.method, args.mpp, args.force)
            except ImportError as e:
                return fail(f"cannot score {args.slide} before reporting ({e}); give --result R.json")
        case = case_from_source(source, case_id=args.case_id, patient_id=args.patient_id,
                                specimen=args.specimen, date=args.date) if source is not None else None
        if case is None:
            from ..report.model import CaseInfo

            case = CaseInfo(case_id=args.case_id, patient_id=args.patient_id, specimen=args.specimen,
                            date=args.date)
        case.core_patients = core_patients
        case.block = case.block or args.block
        case.antibody_clone = case.antibody_clone or args.clone
        core_reviews: dict = {}
        if review is None:
            from ..project import ProjectError
            from ..project.report_reviews import stored_reviews

            try:
                review, core_reviews = stored_reviews(args.slide, args.project)
            except ProjectError as e:
                return fail(f"cannot read the reviews of {args.slide}: {e}")
        _fill_stored_case(case, args)
        path = write_report(args.out, result, source=source, case=case, review=review, core_reviews=core_reviews)
    except (ValueError, OSError, RuntimeError) as e:
        return fail(f"cannot write the report {args.out}: {e}")
    finally:
        if source is not None:
            source.close()
    print(f"report written to {path}")
    return 0


def _score(source, method: str, mpp: float | None = None, force: bool = False):
    """Score the slide with the driver (imported lazily: it pulls in the scorers)."""
    from ..scoring.base import ScoreOptions
    from ..scoring.driver import score_slide

    return score_slide(source, method, ScoreOptions(mpp=mpp, force=force))


def _core_patients(tma_map: str | None) -> dict[str, str]:
    """Core id -> patient id (else case id) from a TMA map CSV; ReportInputError naming the file."""
    if not tma_map:
        return {}
    from ..project import ProjectError
    from ..project.tma_map import read_tma_map
    from ..report.model import ReportInputError

    try:
        cores = read_tma_map(tma_map)
    except ProjectError as e:
        raise ReportInputError(str(e)) from e
    return {core: patient or case for core, (patient, case) in cores.items()}


def _fill_stored_case(case, args: argparse.Namespace) -> None:  # noqa: ANN001 - a report CaseInfo
    """Case fields the command line leaves empty, from those stored with the slide in its project."""
    from ..project import ProjectError
    from ..project.report_reviews import stored_case_fields

    try:
        stored = stored_case_fields(args.slide, args.project)
    except ProjectError as e:
        log.warning("no stored case fields for %s: %s", args.slide, e)
        return
    for key, value in stored.items():
        if not getattr(case, key, ""):
            setattr(case, key, value)
