"""The Monte Carlo study of N and k on small synthetic pools."""

from __future__ import annotations

import json

import numpy as np
import pytest

from her2viewer.cli import main
from her2viewer.scoring.montecarlo import PoolCore, PoolError, load_pools, run_study
from her2viewer.scoring.pss.protocol import kcs_decision

CLASSES = ("0", "1+", "2+", "3+")


def _pool(label: int, m: int, p_right: float, rng: np.random.Generator) -> np.ndarray:
    """M PSS rows: right (and confident) with probability p_right, else a confident wrong class."""
    rows = []
    for _ in range(m):
        c = label if rng.random() < p_right else int(rng.integers(0, 4))
        p = np.full(4, 0.05)
        p[c] = 0.85
        rows.append(rng.dirichlet(p * 50))
    return np.array(rows)


def test_perfect_pools_are_always_right():
    cores = [PoolCore("s", str(i), CLASSES[i % 4], np.tile(np.eye(4)[i % 4] * 0.9 + 0.025, (30, 1)))
             for i in range(8)]
    cn, ck = run_study(cores, n_values=[1, 5, 20], k_values=[1, 5], n_for_k=20, draws=50)
    assert np.all(cn.acc_min == 1.0) and np.all(ck.acc_max == 1.0)
    assert cn.confusion[0].trace() == 8


def test_study_matches_the_scalar_protocol():
    rng = np.random.default_rng(0)
    cores = [PoolCore("s", str(i), CLASSES[i % 4], _pool(i % 4, 40, 0.7, rng)) for i in range(12)]
    cn, ck = run_study(cores, n_values=[1, 3, 10, 40], k=3, k_values=[1, 3, 40], n_for_k=40, draws=400, seed=1)
    # N = M = 40 uses the whole pool in every draw: no spread, and equal to the scalar protocol
    exact = np.mean([kcs_decision(c.probabilities, 3).score == c.label for c in cores])
    assert cn.acc_min[-1] == cn.acc_max[-1] == pytest.approx(exact)
    assert ck.acc_median[1] == pytest.approx(exact)  # k=3 at N=40
    # N = 1: the call is one random PSS's argmax, so the mean accuracy is the pools' per-PSS accuracy
    per_pss = np.mean([np.mean(c.probabilities.argmax(1) == CLASSES.index(c.label)) for c in cores])
    assert cn.acc_mean[0] == pytest.approx(per_pss, abs=0.03)
    assert cn.acc_max[0] - cn.acc_min[0] > 0  # and it varies between draws
    assert all(m.sum() == 12 for m in cn.confusion)


def test_draws_beyond_the_pool_use_replacement():
    rng = np.random.default_rng(2)
    cores = [PoolCore("s", str(i), CLASSES[i % 4], _pool(i % 4, 5, 0.6, rng)) for i in range(6)]
    cn, _ = run_study(cores, n_values=[5, 12], k=2, k_values=[2], n_for_k=12, draws=100)
    assert np.isfinite(cn.acc_median).all()


def test_cli_writes_csv_png_and_summary(tmp_path):
    rng = np.random.default_rng(3)
    pool = {"format": "her2viewer-pss-pool/1", "classes": list(CLASSES),
            "cores": [{"slide": f"core{i}.png", "id": "slide", "label": None,
                       "probabilities": _pool(i % 4, 25, 0.8, rng).tolist()} for i in range(8)]}
    (tmp_path / "pool.json").write_text(json.dumps(pool))
    (tmp_path / "labels.csv").write_text("file,label\n" + "".join(f"core{i}.png,{CLASSES[i % 4]}\n" for i in range(8)))
    out = tmp_path / "mc"
    rc = main(["montecarlo", str(tmp_path / "pool.json"), "--labels", str(tmp_path / "labels.csv"), "--out", str(out),
               "--draws", "200", "--n-max", "30"])
    assert rc == 0
    lines = (out / "accuracy_vs_N.csv").read_text().splitlines()
    assert lines[0] == "N,k,acc_min,acc_median,acc_max,acc_mean" and len(lines) == 31
    assert len((out / "accuracy_vs_k.csv").read_text().splitlines()) == 1 + 21  # k = 1..20 and 30
    for png in ("accuracy_vs_N.png", "accuracy_vs_k.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_cores"] == 8 and np.array(summary["N20_k5"]["confusion_at_median"]).sum() == 8


def test_unlabelled_or_broken_pools_name_the_file(tmp_path, capsys):
    p = tmp_path / "pool.json"
    p.write_text(json.dumps({"cores": [{"slide": "a.png", "id": "x", "probabilities": [[1, 0, 0, 0]]}]}))
    with pytest.raises(PoolError, match="pool.json.*no label"):
        load_pools([p])
    p.write_text("{broken")
    assert main(["montecarlo", str(p), "--out", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pool.json" in err[0]


def test_resimulating_for_the_confusion_matrices_gives_the_same_result(monkeypatch):
    import her2viewer.scoring.montecarlo as mc

    rng = np.random.default_rng(5)
    cores = [PoolCore("s", str(i), CLASSES[i % 4], _pool(i % 4, 20, 0.6, rng)) for i in range(10)]
    kw = dict(n_values=[1, 2, 8], k=2, k_values=[1, 4], n_for_k=8, draws=101, seed=3)
    kept = run_study(cores, **kw)
    monkeypatch.setattr(mc, "MAX_KEPT_SCORES", 0)
    again = run_study(cores, **kw)
    for a, b in zip(kept, again, strict=True):
        np.testing.assert_array_equal(a.acc_median, b.acc_median)
        for ca, cb in zip(a.confusion, b.confusion, strict=True):
            np.testing.assert_array_equal(ca, cb)
        # the confusion matrix is the one of the median draw
        assert [np.trace(c) / 10 for c in a.confusion] == pytest.approx(list(a.acc_median))
