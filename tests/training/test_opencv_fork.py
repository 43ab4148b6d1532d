"""Worker processes forked after the parent used OpenCV's thread pool must not hang (they did: the child's
first pool call, `cv2.setNumThreads`, never returned). Each case runs in a fresh interpreter with a timeout,
so a hang fails the test instead of the suite."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRELUDE = """
import sys, numpy as np, cv2
sys.path.insert(0, {root!r})
cv2.setNumThreads(4)
big = np.random.default_rng(0).random((2500, 2500, 3), dtype=np.float32)
for _ in range(3):
    cv2.GaussianBlur(big, (0, 0), 5)  # the parent's OpenCV thread pool is now busy and alive
"""


def _run(body: str, timeout: float = 150.0) -> subprocess.CompletedProcess:
    code = textwrap.dedent(PRELUDE.format(root=str(ROOT))) + textwrap.dedent(body)
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the forked workers hung (no exit in {timeout:.0f} s)")


def test_loader_workers_forked_after_opencv_threads_do_not_hang():
    r = _run("""
        import torch
        from training.data import make_loader

        class Resizing(torch.utils.data.Dataset):
            def __len__(self):
                return 8

            def __getitem__(self, i):
                a = np.full((256, 256, 3), i, np.float32)
                return torch.from_numpy(cv2.resize(a, (64, 64)).copy())

        total = 0.0
        for epoch in range(2):
            for batch in make_loader(Resizing(), batch_size=4, shuffle=False, num_workers=2, seed=0):
                total += float(batch.sum())
        print("total", total)
        assert cv2.getNumThreads() == 4  # the parent keeps its threads
    """)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "total 688128.0" in r.stdout  # 2 epochs x sum(i * 64 * 64 * 3 for i in range(8))


def test_patch_set_workers_forked_after_opencv_threads_do_not_hang(tmp_path):
    r = _run(f"""
        from training.synth_patches import PatchSettings, write_patch_set

        write_patch_set({str(tmp_path)!r}, [1, 2], PatchSettings(diameters=(500,), min_cells=1), workers=2)
        print("done")
    """)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "done" in r.stdout and (tmp_path / "labels.csv").is_file()
