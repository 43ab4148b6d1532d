"""Augmentation applied identically to every patch of one sample (a PSS is P patches stacked on channels):
flips, 90-degree rotations, a small affine warp, a stain jitter in haematoxylin / DAB optical-density
space (the same Beer-Lambert model as `her2viewer.stain`: concentrations scaled and shifted, and the stain
hues themselves perturbed, as between labs), a Gaussian blur (focus, scanning resolution) and an exposure
change (a gamma that keeps white glass white).

The DAB jitter is kept small by default: the HER2 score depends on the DAB intensity class of the
membrane (faint / moderate / strong), so a large DAB scale change would change the true label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from her2viewer.stain import StainMatrix


@dataclass(frozen=True)
class Augment:
    """Augmentation strengths; `Augment.off()` disables everything."""

    flip: bool = True
    rot90: bool = True
    affine_p: float = 0.3           # probability of the small affine warp
    affine_deg: float = 10.0        # max rotation (degrees)
    affine_scale: float = 0.08      # max relative scale change
    hema_scale: float = 0.10        # haematoxylin OD multiplied by 1 +- this
    hema_shift: float = 0.02        # haematoxylin OD shifted by +- this
    dab_scale: float = 0.05         # DAB OD multiplied by 1 +- this (kept small: it defines the label)
    dab_shift: float = 0.005
    residual_shift: float = 0.01
    stain_p: float = 0.5            # probability of the stain jitter
    vector_jitter: float = 0.0      # std of the perturbation of each stain's unit OD vector (hue between labs)
    blur_p: float = 0.0             # probability of a Gaussian blur
    blur_sigma: float = 1.5         # its largest sigma (px); drawn in [0.3, this]
    gamma: float = 0.0              # exposure: RGB/255 raised to exp(+- this)

    @classmethod
    def off(cls) -> Augment:
        """No augmentation (validation, test)."""
        return cls(flip=False, rot90=False, affine_p=0.0, affine_deg=0.0, affine_scale=0.0, hema_scale=0.0,
                   hema_shift=0.0, dab_scale=0.0, dab_shift=0.0, residual_shift=0.0, stain_p=0.0)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Augment:
        """Defaults overridden by the known keys of `d`."""
        names = {f.name for f in fields(cls)}
        unknown = set(d or {}) - names
        if unknown:
            raise ValueError(f"unknown augmentation setting(s): {', '.join(sorted(unknown))}")
        return cls(**(d or {}))


_OD_LUT = torch.from_numpy((-np.log10(np.maximum(np.arange(256, dtype=np.float64), 1.0) / 255.0))
                         .astype(np.float32))


def _stain_jitter(x: torch.Tensor, aug: Augment, rng: np.random.Generator) -> torch.Tensor:
    """x: (P, 3, H, W) uint8 RGB; returns the stain-jittered float image in [0, 255], same shape."""
    m = torch.from_numpy(StainMatrix.default().vectors.astype(np.float32))
    m_out = m
    if aug.vector_jitter > 0:  # recompose with other stain hues: OD' = C' @ M' where C = OD @ inv(M)
        v = StainMatrix.default().vectors[:2] + rng.normal(0, aug.vector_jitter, (2, 3))
        m_out = torch.from_numpy(StainMatrix.from_vectors(np.abs(v[0]), np.abs(v[1])).vectors.astype(np.float32))
    scale = torch.tensor([1 + rng.uniform(-aug.hema_scale, aug.hema_scale),
                          1 + rng.uniform(-aug.dab_scale, aug.dab_scale), 1.0], dtype=torch.float32)
    shift = torch.tensor([rng.uniform(-aug.hema_shift, aug.hema_shift),
                          rng.uniform(-aug.dab_shift, aug.dab_shift),
                          rng.uniform(-aug.residual_shift, aug.residual_shift)], dtype=torch.float32)
    # OD' = OD @ inv(M) @ diag(scale) @ M + shift @ M  (linear in OD space)
    lin = torch.linalg.inv(m) @ torch.diag(scale) @ m_out
    off = shift @ m_out
    od = _OD_LUT[x.long()] if x.dtype == torch.uint8 else (-torch.log10(x.clamp(min=1.0) / 255.0)).clamp(min=0.0)
    out = torch.empty_like(od)
    for d in range(3):
        o = out[:, d]
        torch.mul(od[:, 0], float(lin[0, d]), out=o)
        o.add_(od[:, 1], alpha=float(lin[1, d])).add_(od[:, 2], alpha=float(lin[2, d])).add_(float(off[d]))
    out.clamp_(min=0.0).mul_(-2.302585093).exp_().mul_(255.0)
    return out


def _affine(x: torch.Tensor, aug: Augment, rng: np.random.Generator) -> torch.Tensor:
    """Small rotation + scale of every patch by the same transform; borders reflected."""
    ang = math.radians(rng.uniform(-aug.affine_deg, aug.affine_deg))
    s = 1.0 + rng.uniform(-aug.affine_scale, aug.affine_scale)
    c, si = math.cos(ang) / s, math.sin(ang) / s
    theta = torch.tensor([[c, -si, 0.0], [si, c, 0.0]], dtype=torch.float32).expand(x.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _blur(x: torch.Tensor, aug: Augment, rng: np.random.Generator) -> torch.Tensor:
    """Gaussian blur of every patch with one sigma drawn in [0.3, aug.blur_sigma] px; float in, float out."""
    sigma = rng.uniform(0.3, max(0.3, aug.blur_sigma))
    r = max(1, int(math.ceil(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    n, c, h, w = x.shape
    y = x.reshape(n * c, 1, h, w)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return y.reshape(n, c, h, w)


def augment_stack(stack: np.ndarray, aug: Augment, rng: np.random.Generator) -> np.ndarray:
    """Augment a (3P, H, W) uint8 stack of P RGB patches, the same way for all patches; uint8 out."""
    c, h, w = stack.shape
    x = torch.from_numpy(np.ascontiguousarray(stack)).view(c // 3, 3, h, w)
    if aug.flip and rng.random() < 0.5:
        x = x.flip(-1)
    if aug.rot90 and h == w:
        k = int(rng.integers(4))
        if k:
            x = torch.rot90(x, k, dims=(-2, -1))
    need_float = (aug.affine_p > 0 and rng.random() < aug.affine_p)
    jitter = any(v > 0 for v in (aug.hema_scale, aug.hema_shift, aug.dab_scale, aug.dab_shift, aug.vector_jitter,
                                 aug.residual_shift))
    jitter = jitter and rng.random() < aug.stain_p
    if jitter:
        x = _stain_jitter(x, aug, rng)
    if need_float:
        x = _affine(x.float(), aug, rng)
    if aug.blur_p > 0 and rng.random() < aug.blur_p and min(h, w) > 8:
        x = _blur(x.float(), aug, rng)
    if aug.gamma > 0:
        g = math.exp(rng.uniform(-aug.gamma, aug.gamma))
        x = (x.float().clamp(0, 255) / 255.0).pow_(g).mul_(255.0)
    if x.dtype != torch.uint8:
        x = x.round_().clamp_(0, 255).to(torch.uint8)
    return x.reshape(c, h, w).contiguous().numpy()
