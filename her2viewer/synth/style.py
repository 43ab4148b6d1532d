"""Appearance styles of the synthetic generator: how stained cores look, never how they score.

A style holds the ranges the generator draws the look of a core from (cell and nucleus size, haematoxylin
and DAB strength and hue, cytoplasmic blush, glass tint, colour cast, blur, scanning resolution). The label
logic (membrane bands, completeness, the ASCO/CAP decision; `params.py`) is the same in every style, so a
core of a given label scores that label whatever its style.

- `synth-1.1`: the original look (crisp, violet nuclei, grey glass, almost no cytoplasmic DAB). Seeds give
  the same pixels as before styles existed.
- `synth-2`: measured against real HER2 IHC (`benchmarks/realism.py`): a diffuse cytoplasmic DAB blush under
  tumour cells and a beige tint in stroma, paler and bluer haematoxylin, larger cells with smaller nuclei,
  warm glass, a per-core scanner colour cast, thicker membranes, the detail of a scan at 1.5-3.5x coarser
  pixels brought back to the output pixel size, and an apparent zoom of 1-2x (tissue drawn at up to twice the
  output pixel size, as on a slide whose pixel size was estimated too fine: real images without one are seen
  through the input checks' estimate).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from . import GENERATOR_VERSION
from . import params as P

Range = tuple[float, float]


@dataclass(frozen=True)
class Style:
    """Ranges one core's appearance is drawn from (stain units are deconvolved OD, see stain.py)."""

    name: str
    tumour_cell_um: Range = P.TUMOUR_CELL_UM
    nucleus_fraction: Range = P.NUCLEUS_FRACTION
    membrane_um: Range = P.MEMBRANE_UM
    hema_tumour_nucleus: Range = P.HEMA_TUMOUR_NUCLEUS
    hema_stromal_nucleus: Range = P.HEMA_STROMAL_NUCLEUS
    hema_lymphocyte: Range = P.HEMA_LYMPHOCYTE
    hema_cytoplasm: Range = P.HEMA_CYTOPLASM
    hema_stroma: Range = P.HEMA_STROMA
    hema_strength: Range = P.HEMA_STRENGTH
    hema_vector: tuple[float, float, float] = P.HEMA_VECTOR
    dab_vector: tuple[float, float, float] = P.DAB_VECTOR
    stain_vector_jitter: float = P.STAIN_VECTOR_JITTER
    cyto_dab_max: tuple[float, float, float, float] = tuple(P.CYTO_DAB_MAX[k] for k in range(4))  # type: ignore[assignment]
    stroma_dab_max: float = P.STROMA_DAB_MAX
    blur_sigma_px: Range = P.BLUR_SIGMA_PX
    glass_od: Range = P.GLASS_OD
    glass_warmth: tuple[float, float, float] = P.GLASS_WARMTH
    #: per-core diffuse cytoplasmic DAB under every tumour cell (OD), scaled per intensity class by
    #: `blush_by_class`; and a beige DAB tint over stroma (OD). Zero in synth-1.1.
    cyto_blush: Range = (0.0, 0.0)
    blush_by_class: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    stroma_tint: Range = (0.0, 0.0)
    #: std of a per-core colour cast added to the OD of each RGB channel. Zero in synth-1.1.
    colour_cast_std: float = 0.0
    #: apparent zoom: the scene is drawn at output mpp x this factor but written at the output pixel size, as a
    #: slide whose pixel size was estimated too fine looks (cells smaller in pixels). (1, 1): true scale.
    zoom: Range = (1.0, 1.0)
    #: the core is scanned at output mpp x this factor and resampled to the output pixel size. (1, 1): no loss.
    scan_factor: Range = (1.0, 1.0)


SYNTH_1_1 = Style(name=GENERATOR_VERSION)  # "synth-1.1"

SYNTH_2 = replace(
    SYNTH_1_1,
    name="synth-2",
    tumour_cell_um=(11.0, 16.0),
    nucleus_fraction=(0.28, 0.42),
    membrane_um=(1.8, 3.2),
    hema_tumour_nucleus=(0.10, 0.24),
    hema_stromal_nucleus=(0.18, 0.35),
    hema_lymphocyte=(0.30, 0.55),
    hema_cytoplasm=(0.05, 0.10),
    hema_stroma=(0.05, 0.12),
    hema_strength=(0.9, 1.4),
    hema_vector=(0.70, 0.60, 0.40),
    stain_vector_jitter=0.04,
    blur_sigma_px=(0.5, 1.2),
    glass_od=(0.0, 0.012),
    glass_warmth=(0.0, 0.008, 0.014),
    cyto_blush=(0.06, 0.20),
    blush_by_class=(0.8, 1.0, 1.2, 1.5),
    stroma_tint=(0.03, 0.10),
    colour_cast_std=0.008,
    scan_factor=(1.5, 3.5),
    zoom=(1.0, 2.0),
)

STYLES: dict[str, Style] = {s.name: s for s in (SYNTH_1_1, SYNTH_2)}
DEFAULT_STYLE = SYNTH_1_1.name


def get_style(name: str | Style) -> Style:
    """The style of that name (a Style passes through); ValueError naming the known ones otherwise."""
    if isinstance(name, Style):
        return name
    try:
        return STYLES[name]
    except KeyError:
        raise ValueError(f"unknown synthetic style {name!r}; known: {', '.join(STYLES)}") from None
