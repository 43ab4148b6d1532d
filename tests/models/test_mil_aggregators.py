"""MIL aggregators: shapes, attention sums, CLAM's instance loss on small bags, DTFD training steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from her2viewer.models.checkpoint import ModelCard, load_checkpoint, save_checkpoint
from her2viewer.models.mil import DTFDMIL, MIL_MODELS, dtfd_train_step, fit_bags, predict_bags
from her2viewer.models.mil.clam import adaptive_k
from her2viewer.models.registry import create_model

D = 24


def _make(name: str, **kw):
    torch.manual_seed(0)
    return create_model(name, in_dim=D, num_classes=4, hidden=16, attn_dim=8, **kw)


@pytest.mark.parametrize("name", sorted(MIL_MODELS.values()))
@pytest.mark.parametrize("n", [1, 3, 17])
def test_shapes_and_attention_sums_to_one(name, n):
    model = _make(name).eval()
    x = torch.randn(n, D)
    logits, attn, extras = model(x)
    assert logits.shape == (4,)
    branches = 4 if name == "mil_clam_mb" else None
    assert attn.shape == ((branches, n) if branches else (n,))
    assert torch.all(attn >= 0)
    torch.testing.assert_close(attn.sum(-1), torch.ones_like(attn.sum(-1)))
    torch.testing.assert_close(model(x, attention_only=True), attn)
    assert isinstance(extras, dict)


@pytest.mark.parametrize("name", sorted(MIL_MODELS.values()))
def test_wrong_feature_size_is_a_clear_error(name):
    with pytest.raises(ValueError, match=f"\\[N, {D}\\]"):
        _make(name)(torch.randn(5, D + 1))


@pytest.mark.parametrize("name", sorted(MIL_MODELS.values()))
def test_checkpoint_round_trip_rebuilds_the_aggregator(name, tmp_path):
    model = _make(name).eval()
    card = ModelCard(name="TEST", architecture={"name": name, "kwargs": model.config()}, method="mil")
    loaded, _ = load_checkpoint(save_checkpoint(model, card, tmp_path / "m"))
    x = torch.randn(9, D)
    torch.testing.assert_close(loaded(x)[0], model(x)[0])


def test_adaptive_k_never_overlaps():
    assert [adaptive_k(8, n) for n in (0, 1, 2, 3, 7, 16, 100)] == [0, 0, 1, 1, 3, 8, 8]


@pytest.mark.parametrize("name", ["mil_clam_sb", "mil_clam_mb"])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_clam_instance_loss_on_a_bag_smaller_than_k_sample(name, n):
    model = _make(name, k_sample=8).train()
    x = torch.randn(n, D)
    loss, logits, extras = model.training_loss(x, 2)
    assert extras["k"] == n // 2 and torch.isfinite(loss)
    if n >= 2:
        assert extras["instance_loss"] > 0
    else:
        assert extras["instance_loss"] == 0
    loss.backward()
    grads = [p.grad for p in model.instance_classifiers.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads) == (n >= 2)
    assert model.embed[0].weight.grad is not None


def test_dtfd_trains_two_steps_without_autograd_errors():
    torch.manual_seed(0)
    model = DTFDMIL(in_dim=D, num_classes=4, hidden=16, attn_dim=8, n_groups=3)
    opt1 = torch.optim.Adam(model.tier1_parameters(), lr=1e-2)
    opt2 = torch.optim.Adam(model.tier2_parameters(), lr=1e-2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.autograd.set_detect_anomaly(True):
        stats = [dtfd_train_step(model, torch.randn(n, D), y, [opt1, opt2]) for n, y in ((11, 1), (2, 3))]
    assert all(s["loss"] > 0 and s["tier1_loss"] > 0 and s["tier2_loss"] > 0 for s in stats)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("tier1.") for k in changed) and any(k.startswith("tier2.") for k in changed)
    assert any(k.startswith("reduce.") for k in changed)


def test_dtfd_tier2_loss_does_not_reach_tier1():
    torch.manual_seed(0)
    model = DTFDMIL(in_dim=D, num_classes=4, hidden=16, attn_dim=8).train()
    out = model._tiers(torch.randn(12, D), detach_distilled=True)
    torch.nn.functional.cross_entropy(out["logits"][None], torch.tensor([1])).backward()
    assert all(p.grad is None for p in model.tier1_parameters())
    assert all(p.grad is not None for p in model.tier2_parameters())


def test_dtfd_eval_is_deterministic():
    model = _make("mil_dtfd").eval()
    x = torch.randn(30, D)
    torch.testing.assert_close(model(x)[0], model(x)[0])


def _toy_bags(n_bags: int, seed: int):
    """Bags of noise; a bag of class c hides a few instances shifted along feature axis c (c = 0..3)."""
    rng = np.random.default_rng(seed)
    bags, labels = [], []
    for i in range(n_bags):
        c = i % 4
        b = rng.normal(size=(int(rng.integers(4, 20)), D)).astype(np.float32)
        k = max(1, len(b) // 4)
        b[:k, c] += 5.0
        bags.append(b)
        labels.append(c)
    return bags, labels


@pytest.fixture
def one_thread():
    """Tiny models run ~10x faster on one thread than fighting over shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("name", sorted(MIL_MODELS.values()))
def test_every_aggregator_learns_a_toy_problem(name, one_thread):
    bags, labels = _toy_bags(48, 0)
    test_bags, test_labels = _toy_bags(40, 1)
    model = _make(name)
    history = fit_bags(model, bags, labels, epochs=10, lr=5e-3)
    assert history[-1] < 0.5 * history[0]
    acc = (predict_bags(model, test_bags).argmax(1) == np.array(test_labels)).mean()
    assert acc >= 0.85, acc
