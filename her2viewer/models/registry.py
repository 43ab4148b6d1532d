"""A small model registry: networks are built by name (`create_model`) from factories that register
themselves with `@register_model(name)`.

The built-in model modules are imported explicitly and lazily (on the first lookup), never by a star
import, so that importing her2viewer stays fast and torch is only loaded when a model is needed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

ModelFactory = Callable[..., Any]
_REGISTRY: dict[str, ModelFactory] = {}

#: modules whose import registers the built-in models
BUILTIN_MODEL_MODULES: tuple[str, ...] = (
    "her2viewer.models.pss_net", "her2viewer.models.mil.abmil", "her2viewer.models.mil.clam",
    "her2viewer.models.mil.dtfd", "her2viewer.models.lowres", "her2viewer.models.patch_classifier")
_loaded = False


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator: make a model factory available to `create_model` under `name`."""
    def deco(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return deco


def _load_builtins() -> None:
    """Import the built-in model modules once."""
    global _loaded
    if _loaded:
        return
    for mod in BUILTIN_MODEL_MODULES:
        importlib.import_module(mod)
    _loaded = True


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs: Any) -> Any:
    """Build the registered model `name` with the factory's keyword arguments."""
    _load_builtins()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)
