"""Give a trained checkpoint a stain reference, so that the scorers normalise what it sees
(`her2viewer.models.stain_normalisation`):

    python -m training.stain_reference --data TRAINING_DATA --model CKPT --out NEW_CKPT

The reference is fitted on up to 24 items (`training.runner.REFERENCE_ITEMS`) of the data the model was trained on (a folder with labels.csv or a
CSV); the weights are copied unchanged into NEW_CKPT, whose card states the reference, the data it was fitted
on and the command. A model trained with `stain_normalisation = true` gets its reference at training time and
needs no such step.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path


def attach_reference(model_path: str | Path, data: str | Path, out: str | Path, *, seed: int = 0,
                     command: str = "") -> Path:
    """Copy a checkpoint to `out` with a stain reference fitted on `data` in its card; returns the new stem."""
    from her2viewer.models.checkpoint import checkpoint_stem, load_checkpoint, save_checkpoint
    from her2viewer.models.stain_normalisation import SPEC_KEY

    from .items import read_items
    from .runner import REFERENCE_ITEMS, fit_items_reference

    model, card = load_checkpoint(model_path)
    items = read_items(data)
    ref = fit_items_reference(items, seed)
    stem = checkpoint_stem(out)
    card.input_spec[SPEC_KEY] = ref.to_dict()
    card.name = stem.name
    card.extra = {**(card.extra or {}),
                  "stain_reference": {"fitted_on": str(data), "n_items": min(REFERENCE_ITEMS, len(items)), "seed": seed,
                                      "from_checkpoint": f"{Path(model_path).name} sha256:{card.sha256}",
                                      "command": command}}
    stem.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(model, card, stem)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(prog="python -m training.stain_reference", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the model's training data (folder with labels.csv, or a CSV)")
    ap.add_argument("--model", required=True, help="checkpoint to copy")
    ap.add_argument("--out", required=True, help="checkpoint to write")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        stem = attach_reference(args.model, args.data, args.out, seed=args.seed,
                                command="python -m training.stain_reference " + " ".join(shlex.quote(a) for a in argv))
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {stem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
