"""The `her2viewer` command: `gui` (the default) and the headless sub-commands.

Each sub-command lives in `her2viewer/commands/<name>.py` with `add_arguments(parser)` and
`run(args) -> int`; this file only dispatches, so start-up imports nothing heavy.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__

#: sub-command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("her2viewer.commands.gui", "open the viewer (default; `her2viewer SLIDE` opens a slide)"),
    "demo": ("her2viewer.commands.demo", "open the bundled demo slide (headless: score it)"),
    "score": ("her2viewer.commands.score", "score a slide or core image and print the JSON result"),
    "synth": ("her2viewer.commands.synth", "generate synthetic HER2 IHC cores, TMA and whole slides"),
    "info": ("her2viewer.commands.info", "print a slide's metadata as JSON"),
    "tissue": ("her2viewer.commands.tissue", "print tissue regions or TMA cores as JSON"),
    "train": ("her2viewer.commands.train", "train or fine-tune a model (cross-validation, model card)"),
    "montecarlo": ("her2viewer.commands.montecarlo", "Monte Carlo study of N and k from a PSS pool"),
    "report": ("her2viewer.commands.report", "write a PDF report for a slide and its result"),
    "patches": ("her2viewer.commands.patches", "cut labelled patches from annotations"),
    "calibrate": ("her2viewer.commands.calibrate", "fit the rules scorer's stain profile to a lab's labelled images"),
    "snapshot": ("her2viewer.commands.snapshot", "the view of a slide with its overlays, legend and scale bar as PNG/TIFF"),
    "batch": ("her2viewer.commands.batch", "score every image of a project or folder (local workers or Ray); cohort table"),
    "compare": ("her2viewer.commands.compare", "all methods in one patient-wise cross-validation (IPD-Breast table)"),
}


TOP_LEVEL_FLAGS = frozenset({"-v", "--verbose"})


def _available() -> dict[str, tuple[str, str]]:
    found = {}
    for name, (mod, help_) in COMMANDS.items():
        if importlib.util.find_spec(mod) is not None:
            found[name] = (mod, help_)
    return found


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (used for --help and by tests)."""
    parser = argparse.ArgumentParser(
        prog="her2viewer",
        description="HER2 Viewer: view, score, review and report HER2 IHC slides. Research use only.",
    )
    parser.add_argument("--version", action="version", version=f"her2viewer {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (mod, help_) in _available().items():
        p = sub.add_parser(name, help=help_, description=help_)
        importlib.import_module(mod).add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    available = _available()
    first = next((a for a in argv if not a.startswith("-")), None)
    if not argv or (first not in available and not {"-h", "--help", "--version"} & set(argv)):
        top = [a for a in argv if a in TOP_LEVEL_FLAGS or (a.startswith("-v") and set(a[1:]) == {"v"})]
        argv = [*top, "gui", *(a for a in argv if a not in top)]
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_module", None):
        build_parser().print_help()
        return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except KeyboardInterrupt:
        print("her2viewer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
