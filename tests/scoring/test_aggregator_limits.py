"""A hostile patch aggregator file is refused before fitting (a huge n_estimators used to hang `score`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from her2viewer.scoring.asco import SCORES4
from her2viewer.scoring.patch.aggregate import AggregatorError, CountAggregator

PATCH_CLASSES = ["Tumour", "0", "1+", "2+", "3+"]


def _saved(tmp_path: Path, **params: object) -> Path:
    rng = np.random.default_rng(0)
    X = rng.dirichlet(np.ones(5), 12)
    agg = CountAggregator("rf", list(SCORES4), PATCH_CLASSES, {"n_estimators": 5}).fit(X, [0, 1, 2, 3] * 3)
    d = agg.to_dict()
    d["params"].update(params)
    p = tmp_path / "x.aggregator.json"
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize("params", [{"n_estimators": 10**9}, {"n_estimators": "many"}, {"n_jobs": -1},
                                    {"max_depth": 1.5}, {"n_estimators": True}])
def test_hostile_params_are_refused_fast(tmp_path: Path, params: dict) -> None:
    path = _saved(tmp_path, **params)
    t0 = time.monotonic()
    with pytest.raises(AggregatorError) as err:
        CountAggregator.load(path)
    assert time.monotonic() - t0 < 5 and str(path) in str(err.value)


def test_reasonable_params_load(tmp_path: Path) -> None:
    assert CountAggregator.load(_saved(tmp_path, n_estimators=20)).params["n_estimators"] == 20


def test_mlp_layers_are_bounded() -> None:
    with pytest.raises(AggregatorError, match="hidden_layer_sizes"):
        CountAggregator("mlp", list(SCORES4), PATCH_CLASSES, {"hidden_layer_sizes": [10**7]})
