"""Training state for resuming (model, optimizer, scheduler, epoch, history) as safetensors + JSON.

Never pickle: tensors go into STATE.safetensors, everything else (param groups, scheduler state, epoch,
history, config) into STATE.json.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from her2viewer.atomic import atomic_write_text
from her2viewer.jsonfile import JSONFileError, read_json


class StateError(ValueError):
    """A training-state file is missing or does not fit the model / optimizer."""


def state_paths(path: str | Path) -> tuple[Path, Path]:
    """(PATH.safetensors, PATH.json) for a state path given with or without a suffix."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return {"__float__": repr(v)}
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, torch.Tensor):
        return v.item() if v.numel() == 1 else v.tolist()
    return v


def _unjson(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"__float__"}:
            return float(v["__float__"])
        return {k: _unjson(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unjson(x) for x in v]
    return v


def save_state(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: Any, epoch: int, extra: dict[str, Any] | None = None) -> Path:
    """Write the state after `epoch` (0-based, completed) so that training resumes at epoch + 1."""
    st_path, js_path = state_paths(path)
    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        tensors[f"model.{k}"] = v.detach().cpu().contiguous().clone()
    opt = optimizer.state_dict()
    opt_scalars: dict[str, dict[str, Any]] = {}
    for pid, st in opt["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor) and v.numel() > 1:
                tensors[f"optim.{pid}.{k}"] = v.detach().cpu().contiguous().clone()
            else:
                opt_scalars.setdefault(str(pid), {})[k] = _jsonable(v)
    tensors["rng.torch"] = torch.get_rng_state().clone()
    meta = {
        "format": "her2viewer-train-state/1",
        "epoch": int(epoch),
        "param_groups": _jsonable(opt["param_groups"]),
        "optim_scalars": opt_scalars,
        "scheduler": _jsonable(scheduler.state_dict()) if scheduler is not None else None,
        "extra": _jsonable(extra or {}),
    }
    st_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = st_path.with_name(st_path.name + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(st_path)
    atomic_write_text(js_path, json.dumps(meta, indent=1))
    return st_path


def read_state_meta(path: str | Path) -> dict[str, Any]:
    """The JSON half of a training state."""
    _, js_path = state_paths(path)
    try:
        return _unjson(read_json(js_path, "training state", allow_nonfinite=True))
    except JSONFileError as exc:
        raise StateError(str(exc)) from None


def load_state(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: Any) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and torch RNG; returns the JSON meta (epoch, extra)."""
    st_path, _ = state_paths(path)
    meta = read_state_meta(path)
    try:
        tensors = load_file(str(st_path))
    except OSError as exc:
        raise StateError(f"cannot read the training state {st_path}: {exc.strerror or exc}") from exc
    model_sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    missing, unexpected = model.load_state_dict(model_sd, strict=False)
    if missing or unexpected:
        raise StateError(f"the training state {st_path} does not fit the model: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for pid, scalars in meta["optim_scalars"].items():
        for name, v in scalars.items():
            state.setdefault(int(pid), {})[name] = torch.tensor(float(v)) if name == "step" else v
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    if scheduler is not None and meta.get("scheduler") is not None:
        scheduler.load_state_dict(meta["scheduler"])
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    return meta
