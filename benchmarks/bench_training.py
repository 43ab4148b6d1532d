"""Training throughput of the default PSS model: PSS samples per second on this machine (CPU, or CUDA).

Measures (1) the optimisation step alone (forward + backward + AdamW on random uint8 PSS batches at the
default spec), (2) the data side alone (one PSS drawn + augmented from a synthetic core, per process), and
(3) the two together through the real DataLoader with workers. Prints one JSON object.

    .venv/bin/python benchmarks/bench_training.py [--steps 6] [--batch 12] [--device cpu] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from her2viewer.models.pss_net import DEFAULT_PSS_MODEL  # noqa: E402
from her2viewer.models.registry import create_model  # noqa: E402
from her2viewer.scoring.pss.sampler import CPU_SPEC, PSSSpec  # noqa: E402
from training.augment import Augment  # noqa: E402
from training.data import PSSDataset, make_loader  # noqa: E402
from training.items import read_items  # noqa: E402
from training.loop import class_weights, normalize_batch, resolve_device  # noqa: E402
from training.synth_data import write_balanced_set  # noqa: E402


def bench_step(model: torch.nn.Module, spec: PSSSpec, batch: int, steps: int, device: torch.device) -> float:
    """Samples/s of forward + backward + AdamW step on random uint8 PSS batches."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weights([0, 1, 2, 3], 4).to(device))
    x = torch.randint(0, 256, (batch, spec.channels, spec.patch_size, spec.patch_size), dtype=torch.uint8)
    y = torch.randint(0, 4, (batch,))
    model.train()
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        xb = normalize_batch(x.to(device), model.mean, model.std)
        with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
            loss = loss_fn(model(xb).float(), y.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms up
            times.append(time.perf_counter() - t)
    return batch / float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements and print JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--diameter", type=int, default=3000, help="synthetic core diameter for the data side")
    a = p.parse_args(argv)
    device = resolve_device(a.device)
    spec = CPU_SPEC
    try:  # the bundled default model's geometry when it is there
        from her2viewer.models.checkpoint import default_model_path, read_card
        spec = PSSSpec.from_dict(read_card(default_model_path("pss")).input_spec)
    except Exception:  # noqa: BLE001 - fall back to the scorer's CPU spec
        pass
    model = create_model(DEFAULT_PSS_MODEL, n_patches=spec.n_patches, pretrained=False).to(device)
    step_sps = bench_step(model, spec, a.batch, a.steps, device)

    with tempfile.TemporaryDirectory() as tmp:
        write_balanced_set(tmp, [0, 1], diameters=(a.diameter,), workers=1)
        items = read_items(tmp)
        ds = PSSDataset(items, [0, 1], spec, augment=Augment(), samples_per_item=a.batch)
        t = time.perf_counter()
        ds.preload(1)
        preload_s = (time.perf_counter() - t) / len(items)
        t = time.perf_counter()
        n = 8
        for i in range(n):
            ds[i]
        data_sps = n / (time.perf_counter() - t)
        loader = make_loader(ds, batch_size=a.batch, shuffle=True, num_workers=a.workers, seed=0)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        t, seen = time.perf_counter(), 0
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(normalize_batch(x.to(device), model.mean, model.std)),
                                                     torch.as_tensor(y, device=device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
        e2e_sps = seen / (time.perf_counter() - t)
    print(json.dumps({
        "model": DEFAULT_PSS_MODEL, "spec": spec.to_dict(), "device": str(device), "batch": a.batch,
        "torch_threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "train_step_samples_per_s": round(step_sps, 3),
        "data_pss_per_s_one_process": round(data_sps, 3),
        "sampler_build_s_per_core": round(preload_s, 3),
        "end_to_end_samples_per_s": round(e2e_sps, 3), "workers": a.workers,
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
