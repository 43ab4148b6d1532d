"""Seconds per core for the PSS scorer (issue target: <= 10 s per 5,000 x 5,000 px core at N=20 on 2 CPU
cores with the default backbone; on a GPU <= 1 s per 10,000 x 10,000 px core).

Usage:
  .venv/bin/python benchmarks/bench_scoring.py [--size 5000] [-N 20] [--threads 2] [--device cpu]
  .venv/bin/python benchmarks/bench_scoring.py --size 10000 --device cuda          # on a GPU machine

The core is a synthetic HER2 core (her2viewer.synth) at 0.5 um/px on a size x size canvas. The model is the
bundled resources/models/pss_default when it exists, else a RANDOMLY INITIALISED network of the default
architecture and input spec (the timing is the same; the score is meaningless) - the output says which.
The rules scorer has its own benchmark (benchmarks/bench_scoring_rules.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def _model(tmp: Path, arch: str) -> tuple[str, str]:
    """(checkpoint stem, description): the bundled default, or a random one with the CPU spec."""
    from her2viewer.models.checkpoint import ModelCard, checkpoint_exists, default_model_path, save_checkpoint
    from her2viewer.models.registry import create_model
    from her2viewer.scoring.pss.sampler import CPU_SPEC

    default = default_model_path("pss")
    if checkpoint_exists(default) and arch == "default":
        return str(default), f"bundled model {default}"
    name = "pss_mobilenetv2" if arch == "default" else arch
    net = create_model(name, n_patches=CPU_SPEC.n_patches)
    card = ModelCard(name=f"benchmark {name} (random weights)", architecture={"name": name, "kwargs": net.config()},
                     input_spec={**CPU_SPEC.to_dict(), "mean": list(net.mean), "std": list(net.std)})
    stem = save_checkpoint(net, card, tmp / "bench")
    return str(stem), f"RANDOMLY INITIALISED {name} (no trained checkpoint at {default}), spec {CPU_SPEC}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=5000, help="core canvas size in px (default 5000)")
    ap.add_argument("-N", type=int, default=20, help="PSSs per core (default 20)")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--arch", default="default", help="registry name to time instead of the default model")
    ap.add_argument("--repeats", type=int, default=2, help="scored this many times (the first includes warm-up)")
    ap.add_argument("--seed", type=int, default=4242)
    a = ap.parse_args(argv)

    import torch

    from her2viewer.scoring.base import ScoreOptions, create_scorer
    from her2viewer.scoring.driver import score_slide
    from her2viewer.slide.array_source import ArraySlide
    from her2viewer.synth.core import generate_core

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    core = generate_core("2+", a.seed, diameter_px=int(a.size / 1.1), canvas=(a.size, a.size))
    t_gen = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        stem, what = _model(Path(tmp), a.arch)
        opts = ScoreOptions(n_samples=a.N, top_k=a.k, seed=0, device=a.device, model_path=stem,
                            extra={"batch_size": a.batch_size})
        t0 = time.perf_counter()
        scorer = create_scorer("pss", opts)
        t_load = time.perf_counter() - t0
        times = []
        for _ in range(a.repeats):
            src = ArraySlide(core.image, mpp=0.5, name="bench-core")  # fresh: no pyramid levels cached
            t0 = time.perf_counter()
            res = score_slide(src, "pss", opts, scorer=scorer)
            if scorer.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        parts = _breakdown(scorer, ArraySlide(core.image, mpp=0.5, name="bench-core"), a.N)
    print(f"model: {what}")
    print(f"device {scorer.device}, torch threads {torch.get_num_threads()}, batch {a.batch_size}, "
          f"N={a.N}, k={a.k}, spec {scorer.spec.patch_size} px at {scorer.spec.mpp} um/px, "
          f"{scorer.spec.n_patches} patches/PSS")
    print(f"PSS scorer: {' / '.join(f'{t:.2f}' for t in times)} s per {a.size} x {a.size} core "
          f"(runs in order; tissue detection + sampling + inference), best {min(times):.2f} s; "
          f"model load {t_load:.2f} s; core generation {t_gen:.1f} s; score {res.score}")
    print("breakdown (one more run): " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    return 0


def _breakdown(scorer, src, n: int) -> dict[str, float]:
    """Seconds spent finding the core, reading the region, cropping n PSSs and in the network."""
    import numpy as np

    from her2viewer.scoring.pss.sampler import PSSSampler
    from her2viewer.tissue.regions import regions_for

    out = {}
    t = time.perf_counter()
    _, regions = regions_for(src)
    out["tissue/dearray"] = time.perf_counter() - t
    t = time.perf_counter()
    sampler = PSSSampler(src, regions[0], scorer.spec)
    out["read region"] = time.perf_counter() - t
    t = time.perf_counter()
    stacks = np.stack([sampler.sample(np.random.default_rng(i), i)[0] for i in range(n)])
    out[f"crop {n} PSSs"] = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, n, scorer.batch_size):
        scorer._forward(stacks[i:i + scorer.batch_size])
    out["network"] = time.perf_counter() - t
    return out


if __name__ == "__main__":
    sys.exit(main())
