"""The CUDA path (fp16 autocast, channels_last): runs where a GPU is present and skips elsewhere (CI has none).
The same core scored on the GPU and on the CPU gives the same call and nearly the same probabilities."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from her2viewer.scoring.base import ScoreOptions  # noqa: E402
from her2viewer.scoring.driver import score_slide  # noqa: E402
from her2viewer.slide import open_slide  # noqa: E402
from her2viewer.synth.core import generate_core  # noqa: E402

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    path = tmp_path_factory.mktemp("cuda") / "core.png"
    img = generate_core("3+", 5151, diameter_px=900).image
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def _score(path, method: str, device: str, **extra):
    with open_slide(path) as source:
        return score_slide(source, method, ScoreOptions(device=device, mpp=0.5, extra=extra, n_samples=12))


@needs_gpu
@pytest.mark.parametrize("method,extra", [("pss", {}), ("mil", {"aggregator": "dtfd"}), ("lowres", {})])
def test_gpu_and_cpu_agree(core, method, extra):
    gpu, cpu = _score(core, method, "cuda", **extra), _score(core, method, "cpu", **extra)
    assert "cuda" in str(gpu.params.get("device", "cuda"))
    assert (gpu.score, gpu.score3) == (cpu.score, cpu.score3)
    keys = sorted(cpu.probabilities)
    assert np.allclose([gpu.probabilities[k] for k in keys], [cpu.probabilities[k] for k in keys], atol=0.03)


def test_asking_for_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    from her2viewer.scoring.pss.scorer import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        resolve_device("cuda")
