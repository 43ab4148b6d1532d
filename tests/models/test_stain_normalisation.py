"""Stain normalisation at inference: the haematoxylin of another lab mapped to a model's reference, the DAB
optical density (the HER2 signal) kept; declared in a model card, honoured by the scorers and by training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from her2viewer.models.stain_normalisation import (
    SPEC_KEY,
    ImageStain,
    NormalisedSource,
    SourceNormaliser,
    StainReference,
    fit_reference,
    measure_stain,
    normalise,
    reference_of,
)
from her2viewer.slide import open_slide
from her2viewer.stain import StainMatrix, compose, deconvolve

BLUISH_HEMA = np.array([0.60, 0.62, 0.50])


def _tissue(seed: int = 0, size: int = 192) -> np.ndarray:
    """(size, size, 2) haematoxylin / DAB concentrations: blobs of nuclei, membranes, some glass."""
    import cv2

    rng = np.random.default_rng(seed)
    h = np.zeros((size, size), np.float32)
    d = np.zeros((size, size), np.float32)
    for _ in range(60):
        x, y = rng.integers(8, size - 8, 2)
        cv2.circle(h, (int(x), int(y)), int(rng.integers(3, 6)), float(rng.uniform(0.3, 0.6)), -1)
        cv2.circle(d, (int(x), int(y)), int(rng.integers(8, 11)), float(rng.uniform(0.1, 0.5)), 1)
    h[:, : size // 6] = 0.0  # glass
    d[:, : size // 6] = 0.0
    return np.dstack([h, d])


def _reference() -> StainReference:
    return fit_reference([compose(_tissue(s)) for s in range(3)])


def test_a_paler_bluer_haematoxylin_comes_back_to_the_reference_and_dab_is_kept() -> None:
    ref = _reference()
    conc = _tissue(7)
    target = compose(conc, ref.stains)
    other = conc.copy()
    other[..., 0] *= 0.55  # paler
    lab = compose(other, StainMatrix.from_vectors(BLUISH_HEMA, StainMatrix.default().vectors[1]))
    out = normalise(lab, measure_stain(lab), ref)
    before = np.abs(lab.astype(float) - target).mean()
    after = np.abs(out.astype(float) - target).mean()
    assert after < 0.35 * before, (before, after)
    # the DAB optical density, what the score is read from, is unchanged by the normalisation
    d_lab = deconvolve(lab, StainMatrix.from_vectors(BLUISH_HEMA, StainMatrix.default().vectors[1]))[..., 1]
    d_out = deconvolve(out, ref.stains)[..., 1]
    ring = conc[..., 1] > 0.2
    assert np.abs(d_out[ring] - d_lab[ring]).mean() < 0.03
    # and a DAB-free image stays DAB-free (a 0 is not stained up)
    blue = compose(np.dstack([conc[..., 0], np.zeros_like(conc[..., 0])]))
    d_blue = deconvolve(normalise(blue, measure_stain(blue), ref), ref.stains)[..., 1]
    assert np.percentile(d_blue, 99) < 0.05


def test_an_image_already_in_the_reference_colours_is_left_almost_as_it_is() -> None:
    ref = _reference()
    img = compose(_tissue(3), ref.stains)
    out = normalise(img, measure_stain(img), ref)
    assert np.abs(out.astype(float) - img).mean() < 2.0


def test_reference_round_trips_and_a_bad_one_names_the_file_and_the_problem() -> None:
    ref = _reference()
    assert StainReference.from_dict(json.loads(json.dumps(ref.to_dict()))).hema_p99 == pytest.approx(ref.hema_p99,
                                                                                                     abs=1e-4)
    assert reference_of({"size": 224}) is None
    bad = [({"method": "reinhard", "hema": [1, 0, 0], "dab": [0, 1, 0], "hema_p99": 0.5}, "unknown stain"),
           ({"hema": [1, 0, 0], "hema_p99": 0.5}, "needs hema and dab"),
           ({"hema": [1, 0], "dab": [0, 1, 0], "hema_p99": 0.5}, "3 non-negative"),
           ({"hema": [1, 0, 0], "dab": [0, 1, 0], "hema_p99": -1}, "hema_p99"),
           ("macenko", "must be an object")]
    for d, words in bad:
        with pytest.raises(ValueError, match=words) as e:
            StainReference.from_dict(d, "my_model.json")
        assert "my_model.json" in str(e.value)


def test_a_slide_view_is_normalised_and_measured_once(tmp_path: Path) -> None:
    import cv2

    ref = _reference()
    lab = compose(_tissue(5, 640) * np.array([0.6, 1.0], np.float32),
                  StainMatrix.from_vectors(BLUISH_HEMA, StainMatrix.default().vectors[1]))
    path = tmp_path / "lab.png"
    cv2.imwrite(str(path), cv2.cvtColor(lab, cv2.COLOR_RGB2BGR))
    source = open_slide(path)
    try:
        norm = SourceNormaliser(ref)
        view = norm(source)
        assert isinstance(view, NormalisedSource)
        assert view.dimensions == source.dimensions and view.mpp == source.mpp
        assert norm(source) is view  # the same slide is not measured again
        region = view.read_region(0, 0, 0, 640, 640)
        assert not np.array_equal(region, source.read_region(0, 0, 0, 640, 640))
        measured = view.measured
        assert isinstance(measured, ImageStain) and measured.hema_p99 > 0
        assert SourceNormaliser(None)(source) is source
    finally:
        source.close()


def test_the_lowres_scorer_normalises_when_its_card_says_so(tmp_path: Path, tiny_cores: Path) -> None:
    from her2viewer.models.checkpoint import CheckpointError
    from her2viewer.scoring.base import ScoreOptions
    from her2viewer.scoring.lowres.scorer import LowResScorer
    from her2viewer.scoring.lowres.testing import make_test_lowres_checkpoint
    from her2viewer.slide.region import Region

    stem = make_test_lowres_checkpoint(tmp_path / "lr")
    card_path = Path(f"{stem}.json")
    card = json.loads(card_path.read_text())
    card["input_spec"][SPEC_KEY] = _reference().to_dict()
    card_path.write_text(json.dumps(card))
    core = sorted(tiny_cores.glob("*.png"))[0]
    source = open_slide(core)
    try:
        w, h = source.dimensions
        region = Region((0, 0, w, h), None, "core")
        plain = make_test_lowres_checkpoint(tmp_path / "plain")
        r_plain = LowResScorer(ScoreOptions(model_path=str(plain))).score_region(source, region)
        r_norm = LowResScorer(ScoreOptions(model_path=str(stem))).score_region(source, region)
        assert r_norm.params["stain_normalised"] is True and r_plain.params["stain_normalised"] is False
        assert r_norm.probabilities != r_plain.probabilities  # same weights, other pixels
        card["input_spec"][SPEC_KEY] = {"hema": [1, 0, 0]}
        card_path.write_text(json.dumps(card))
        bad = make_test_lowres_checkpoint(tmp_path / "bad")
        Path(f"{bad}.json").write_text(json.dumps({**card, "sha256": json.loads(Path(f"{bad}.json").read_text())
                                                   ["sha256"]}))
        with pytest.raises(CheckpointError, match="bad.json.*stain_normalisation"):
            LowResScorer(ScoreOptions(model_path=str(bad)))
    finally:
        source.close()


def test_training_fits_a_reference_into_the_card_and_a_fine_tune_keeps_its_parents(tiny_cores: Path,
                                                                                    tmp_path: Path) -> None:
    from her2viewer.models.checkpoint import read_card
    from training.config import TrainConfig
    from training.finetune import FinetuneRequest, _config
    from training.runner import train

    cfg = TrainConfig(data=str(tiny_cores), val_data=str(tiny_cores), out=str(tmp_path / "lr"), dataset="lowres",
                      model="lowres_convnext_atto", init="random", epochs=1, batch_size=6, num_workers=0,
                      lowres_size=64, early_stopping=0, nk_on_val=False, stain_normalisation=True)
    train(cfg)
    card = read_card(tmp_path / "lr")
    ref = reference_of(card.input_spec)
    assert ref is not None and 0.1 < ref.hema_p99 < 2.0
    req = FinetuneRequest(items_csv=str(tiny_cores / "labels.csv"), method="lowres", base=str(tmp_path / "lr"),
                          name="ft", staging=str(tmp_path))
    assert _config(req, "lowres", card, 1e-4).stain_reference == card.input_spec[SPEC_KEY]


@pytest.mark.parametrize("stem", ["mil_dtfd_default", "patch_default"])
def test_mil_and_patch_refuse_a_card_that_asks_for_normalisation_rather_than_ignore_it(stem: str,
                                                                                      tmp_path: Path) -> None:
    import shutil

    from her2viewer.models.checkpoint import CheckpointError, default_model_path
    from her2viewer.scoring.base import ScoreOptions, create_scorer

    src = default_model_path("mil" if stem.startswith("mil") else "patch")
    for f in src.parent.glob(f"{stem}*"):
        shutil.copy(f, tmp_path / f.name)
    card_path = tmp_path / f"{stem}.json"
    card = json.loads(card_path.read_text())
    card["input_spec"][SPEC_KEY] = _reference().to_dict()
    card_path.write_text(json.dumps(card))
    method = "mil" if stem.startswith("mil") else "patch"
    with pytest.raises(CheckpointError, match=f"{stem}.json: the card asks for stain normalisation"):
        create_scorer(method, ScoreOptions(model_path=str(tmp_path / stem)))


def test_a_reference_is_attached_to_a_trained_checkpoint_from_its_training_data(tiny_cores: Path,
                                                                                tmp_path: Path) -> None:
    from her2viewer.models.checkpoint import load_checkpoint
    from her2viewer.scoring.lowres.testing import make_test_lowres_checkpoint
    from training.stain_reference import main

    stem = make_test_lowres_checkpoint(tmp_path / "lr")
    assert main(["--data", str(tiny_cores), "--model", str(stem), "--out", str(tmp_path / "out" / "lr_norm")]) == 0
    model, card = load_checkpoint(tmp_path / "out" / "lr_norm")
    _, old = load_checkpoint(stem)
    assert reference_of(card.input_spec) is not None and reference_of(old.input_spec) is None
    assert card.extra["stain_reference"]["fitted_on"] == str(tiny_cores)
    assert card.name == "lr_norm"
    assert main(["--data", str(tmp_path / "nowhere"), "--model", str(stem), "--out", str(tmp_path / "x")]) == 2
