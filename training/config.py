"""Training configuration: one dataclass, read from a small TOML file and overridden by command-line flags.

The resolved configuration (and the exact command) is written into every model card, so a run can be
repeated from its card alone.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The configuration file or a flag is not valid."""


@dataclass
class TrainConfig:
    """Everything a training run depends on."""

    data: str = ""                 # folder (with labels.csv) or CSV of labelled items
    val_data: str = ""             # optional separate validation set; else split from `data`
    test_data: str = ""            # optional separate test set, evaluated once at the end
    out: str = ""                  # checkpoint path (PATH.safetensors + PATH.json)
    model: str = "pss_mobilenetv2"
    dataset: str = "pss"           # pss | lowres | patch | mil
    init: str = "imagenet"         # imagenet | random
    finetune: str = ""             # parent checkpoint to start from
    freeze_backbone: bool = False
    resume: str = ""               # training state to continue from
    folds: int = 0                 # >= 2: patient-wise k-fold cross-validation
    val_fraction: float = 0.2      # patient-wise validation split when no val_data and no folds
    test_fraction: float = 0.0     # patient-wise held-out test split taken before anything else
    epochs: int = 30
    batch_size: int = 12
    lr: float = 1e-4
    finetune_lr_factor: float = 0.1
    weight_decay: float = 1e-2
    plateau_patience: int = 2
    plateau_factor: float = 0.5
    early_stopping: int = 6        # epochs without val-loss improvement before stopping (0: never)
    samples_per_item: int = 1      # PSSs drawn per item per epoch
    seed: int = 0
    device: str = "auto"
    num_workers: int = 2
    lowres_size: int = 224
    eval_n: int = 20               # N of the N/k protocol
    eval_k: int = 5                # k of the N/k protocol
    spec: dict[str, Any] = field(default_factory=dict)      # PSSSpec overrides
    augment: dict[str, Any] = field(default_factory=dict)   # Augment overrides
    time_budget_min: float = 0.0   # stop training before an epoch would end past this many minutes (0: none)
    nk_on_val: bool = True         # N/k evaluation of the best model on the validation set
    max_threads: int = 0           # torch intra-op threads in the main process (0: torch default)
    label_map: str = ""            # "" (labels as given) | "3way" (0 / 1+ / 2+ / 3+ -> 0 / Low / High by ASCO/CAP)
    features: dict[str, Any] = field(default_factory=dict)      # MIL: backbone, weights, tile_px, mpp, ...
    feature_cache: str = ""        # MIL: folder of cached tile features ("" = the user feature cache)
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # MIL: aggregator keyword arguments
    stain_normalisation: bool = False  # normalise inputs to a stain reference fitted on the training items
                                       # (a fine-tuned model always keeps its parent's reference, if any)
    stain_reference: dict[str, Any] = field(default_factory=dict)  # filled by the runner: the reference used

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (model card, metrics log)."""
        return dataclasses.asdict(self)


def _fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Config from a TOML file (flat keys, optional [spec] and [augment] tables) with overrides applied."""
    values: dict[str, Any] = {}
    if path:
        p = Path(path)
        try:
            values = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {p}: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"the config file {p} is not valid TOML: {exc}") from exc
        values = {k.replace("-", "_"): v for k, v in values.items()}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = _fields()
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}" + (f" in {path}" if path else ""))
    cfg = TrainConfig(**values)
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Raise ConfigError naming the first setting that makes no sense."""
    if cfg.dataset not in ("pss", "lowres", "patch", "mil"):
        raise ConfigError(f"dataset must be pss, lowres, patch or mil, not {cfg.dataset!r}")
    if cfg.label_map not in ("", "3way"):
        raise ConfigError(f"label_map must be empty or 3way, not {cfg.label_map!r}")
    if not all(isinstance(t, dict) for t in (cfg.features, cfg.model_kwargs)):
        raise ConfigError("features and model_kwargs must be tables")
    if cfg.init not in ("imagenet", "random"):
        raise ConfigError(f"init must be imagenet or random, not {cfg.init!r}")
    if cfg.folds == 1 or cfg.folds < 0:
        raise ConfigError("folds must be 0 (no cross-validation) or at least 2")
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise ConfigError("epochs and batch_size must be at least 1")
    if not 0.0 <= cfg.test_fraction < 1.0 or not 0.0 <= cfg.val_fraction < 1.0:
        raise ConfigError("val_fraction and test_fraction must be in [0, 1)")
    if cfg.eval_k < 1 or cfg.eval_n < 1:
        raise ConfigError("eval_n and eval_k must be at least 1")
    if not isinstance(cfg.spec, dict) or not isinstance(cfg.augment, dict):
        raise ConfigError("spec and augment must be tables")
