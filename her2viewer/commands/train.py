"""`her2viewer train`: train or fine-tune a model with the `training` package, or evaluate a checkpoint.

Train:    her2viewer train --data DIR_or_CSV --model pss_mobilenetv2 --out CKPT [--config cfg.toml]
                           [--folds 5] [--epochs N] [--init imagenet|random] [--finetune CKPT]
                           [--freeze-backbone] [--resume STATE] [--seed S] [--device auto|cpu|cuda]
Evaluate: her2viewer train --evaluate CKPT --data DIR_or_CSV [-N 20] [-k 5] [--json OUT|-]
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys

from . import fail

log = logging.getLogger(__name__)

#: flag dest -> TrainConfig field (flags left at None do not override the config file)
_FLAG_FIELDS = ("data", "val_data", "test_data", "out", "model", "dataset", "init", "finetune", "resume",
                "folds", "epochs", "batch_size", "lr", "seed", "device", "num_workers", "test_fraction",
                "val_fraction")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `her2viewer train`."""
    parser.add_argument("--data", help="training data: a folder with labels.csv (or class sub-folders) or a CSV")
    parser.add_argument("--out", help="checkpoint to write (PATH.safetensors + PATH.json)")
    parser.add_argument("--config", help="TOML file with the settings (flags override it)")
    parser.add_argument("--model", help="registry model name (default pss_mobilenetv2)")
    parser.add_argument("--dataset", choices=("pss", "lowres", "patch", "mil"), help="kind of input (default pss)")
    parser.add_argument("--val-data", help="separate validation set (default: a patient-wise split of --data)")
    parser.add_argument("--test-data", help="separate test set evaluated once at the end")
    parser.add_argument("--test-fraction", type=float, help="patient-wise held-out test fraction of --data")
    parser.add_argument("--val-fraction", type=float, help="patient-wise validation fraction (default 0.2)")
    parser.add_argument("--folds", type=int, help="patient-wise stratified k-fold cross-validation")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float, help="learning rate (fine-tuning multiplies it by 0.1)")
    parser.add_argument("--init", choices=("imagenet", "random"), help="backbone initialisation")
    parser.add_argument("--finetune", help="parent checkpoint to fine-tune")
    parser.add_argument("--freeze-backbone", action="store_true", default=None, help="train only the head")
    parser.add_argument("--resume", help="training state (OUT.state) to continue from")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="auto, cpu or cuda")
    parser.add_argument("--num-workers", type=int, help="DataLoader worker processes (default 2)")
    parser.add_argument("--evaluate", metavar="CKPT", help="evaluate this checkpoint on --data and exit")
    parser.add_argument("-N", type=int, dest="eval_n", help="PSSs per core for evaluation (default 20)")
    parser.add_argument("-k", type=int, dest="eval_k", help="most confident PSSs kept (default 5)")
    parser.add_argument("--json", help="with --evaluate: write metrics and predictions as JSON (- for stdout)")


def _overrides(args: argparse.Namespace) -> dict:
    o = {f: getattr(args, f, None) for f in _FLAG_FIELDS}
    o["freeze_backbone"] = args.freeze_backbone
    o["eval_n"], o["eval_k"] = args.eval_n, args.eval_k
    return o


def _evaluate(args: argparse.Namespace, cfg) -> int:
    from her2viewer.models.checkpoint import CheckpointError, load_checkpoint
    from her2viewer.models.stain_normalisation import reference_of
    from training.evaluate import evaluate_items
    from training.items import DatasetError, in_scheme_of, label_indices, read_items
    from training.loop import resolve_device
    from training.runner import make_spec

    try:
        model, card = load_checkpoint(args.evaluate)
        stain = reference_of(card.input_spec, f"{args.evaluate}.json")
        items = in_scheme_of(read_items(cfg.data), card.classes)   # a 3-way model: labels mapped as in training
        labels = label_indices(items, card.classes)
    except (CheckpointError, DatasetError) as e:
        return fail(str(e))
    except ValueError as e:
        return fail(f"{cfg.data}: a label is not one of the checkpoint's classes {card.classes} ({e})")
    dataset = "pss" if card.method == "pss" else card.method
    spec = make_spec({}, card.input_spec) if dataset == "pss" else None
    if dataset == "mil":
        from training.mil import evaluate_mil
        res = evaluate_mil(model, card, items, labels, cache_dir=cfg.feature_cache or None)
    else:
        res = evaluate_items(model, items, labels, dataset=dataset, spec=spec, n=cfg.eval_n, k=cfg.eval_k,
                             seed=cfg.seed, lowres_size=int(card.input_spec.get("size", 224)),
                             device=resolve_device(cfg.device), batch_size=cfg.eval_n,
                             num_workers=cfg.num_workers, ish=[it.ish for it in items], stain=stain)
    m = res["metrics"]
    kind = "3-way" if m.get("classes") else "4-way"
    print(f"{card.name}: {m['n']} items, N={cfg.eval_n} k={cfg.eval_k}: {kind} accuracy {m['accuracy']:.4f}, "
          f"macro F1 {m['macro_f1']:.4f}, 3-way accuracy {m['3way']['accuracy']:.4f}, "
          f"AUC {m.get('auc', {}).get('macro')}", file=sys.stderr if args.json == "-" else sys.stdout)
    payload = {"checkpoint": str(args.evaluate), "model": {"name": card.name, "sha256": card.sha256},
               "data": str(cfg.data), "metrics": m,
               "predictions": [vars(p) for p in res["predictions"]]}
    if args.json == "-":
        json.dump(payload, sys.stdout, indent=1)
        print()
    elif args.json:
        from her2viewer.atomic import atomic_write_text
        atomic_write_text(args.json, json.dumps(payload, indent=1))
    else:
        print(json.dumps({k: m[k] for k in ("accuracy", "macro_f1", "confusion", "adjacent", "3way") if k in m},
                         indent=1))
    return 0


def _command_line(args: argparse.Namespace) -> str:
    """The command as typed when run from a shell, else rebuilt from the parsed flags."""
    argv = sys.argv
    if "train" in argv[1:]:
        return "her2viewer " + " ".join(shlex.quote(a) for a in argv[argv.index("train", 1):])
    flags = [f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in sorted(vars(args).items())
             if v not in (None, False) and not k.startswith("_") and k not in ("command", "verbose")]
    return "her2viewer train " + " ".join(flags)


def run(args: argparse.Namespace) -> int:
    """Train, fine-tune or evaluate; 0 on success, 2 with a one-line error otherwise."""
    from training.config import ConfigError, load_config

    try:
        cfg = load_config(args.config, _overrides(args))
    except ConfigError as e:
        return fail(str(e))
    if not cfg.data:
        return fail("--data is required (a folder with labels.csv or a CSV of labelled items)")
    if args.evaluate:
        return _evaluate(args, cfg)
    if not cfg.out:
        return fail("--out is required (where to write the checkpoint)")
    from her2viewer.models.checkpoint import CheckpointError
    from her2viewer.progress import Task
    from training.cv import SplitError
    from training.items import DatasetError
    from training.runner import train
    from training.state import StateError

    last = [-1.0]

    def progress(f: float, msg: str) -> None:
        if f - last[0] >= 0.01 or f >= 1.0:
            last[0] = f
            eta = task.eta_s(f)
            log.info("%5.1f%% %s%s", 100 * f, msg, f" (ETA {eta / 60:.1f} min)" if eta else "")

    task = Task(progress)
    command = _command_line(args)
    try:
        report = train(cfg, command=command, task=task)
    except (DatasetError, SplitError, CheckpointError, StateError, ConfigError) as e:
        return fail(str(e))
    m = report.metrics
    summary = m.get("test") or m.get("validation") or m.get("cv", {}).get("summary", {})
    print(json.dumps({"checkpoint": str(report.checkpoint), "metrics": summary}, indent=1, default=str))
    return 0
