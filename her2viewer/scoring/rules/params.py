"""The documented, configurable parameters of the rule-based ASCO/CAP scorer.

Optical densities are base-10 "DAB OD" / "haematoxylin OD" from `her2viewer.stain.deconvolve`; lengths and
areas are in micrometres so that one setting fits scans of any resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

#: Resolution assumed when a slide does not say (a 20x scan); the result's params say when it was used.
DEFAULT_MPP = 0.5


@dataclass(frozen=True)
class MembraneThresholds:
    """Membrane DAB OD cut-offs for the intensity classes and the completeness cut-off.

    Units: measured DAB OD (base-10, `her2viewer.stain.deconvolve`) as this scorer measures it: the median,
    over a cell's stained angular sectors, of each sector's 90th-percentile DAB on the cell's membrane ring.
    A thin membrane is blurred by the optics, so this reads lower than the DAB laid down (about 0.5-0.8x).
    Classes: 0 none (< faint), 1 faint / barely perceptible (>= faint), 2 weak-to-moderate (>= moderate),
    3 strong (>= strong). A ring is complete (circumferential) when at least `complete` of its sectors are
    stained (>= faint and >= `CellParams.relative_stained` x the cell's brightest sector).

    The defaults are calibrated against the OBSERVABLE per-cell ground truth of synthetic cores (what each
    cell's whole border visibly shows, shared membranes included; seeds 910000-910039, 1500 px, generator
    synth-1.1): `benchmarks/calibrate_rules_synth.py --n 40 --seed 910000` picks each cut-off as the middle
    of the flat optimum of the balanced error between adjacent classes (per-cell errors 4.3%, 11.2%, 9.0%;
    completeness 23.0%; per-cell intensity accuracy 90.9%). They sit where real IHC puts the bands a
    pathologist calls faint (about 0.1-0.2 measured OD), weak-to-moderate (0.2-0.5) and intense (>= 0.5;
    dark brown membranes of a 3+ case read 0.5-1.0), i.e. close to the usual QuPath membrane cut-offs
    (0.1 / 0.2 / 0.4 ... 0.3 / 0.6 by lab).
    Labs calibrate these to their own stain and scanner: every value is configurable through
    `ScoreOptions.extra["rules"]["membrane"]`.
    """

    faint: float = 0.073
    moderate: float = 0.223
    strong: float = 0.505
    complete: float = 0.512

    def __post_init__(self) -> None:
        if not 0.0 < self.faint < self.moderate < self.strong:
            raise ValueError(f"membrane thresholds must rise: faint {self.faint}, moderate {self.moderate}, "
                             f"strong {self.strong}")
        if not 0.0 < self.complete <= 1.0:
            raise ValueError(f"completeness threshold {self.complete} is not in (0, 1]")


@dataclass(frozen=True)
class NucleusParams:
    """Nucleus detection on the haematoxylin channel and the tumour / non-tumour rule.

    Tumour cell: nucleus area >= `tumour_min_area_um2`, not elongated (minor / major axis >=
    `tumour_min_axis_ratio`, which excludes stromal fibroblasts), not a small dark round lymphocyte
    (area < `lymphocyte_max_area_um2` with mean haematoxylin OD >= `lymphocyte_darkness` x the median of the
    nuclei in its tile), and part of a cohesive group (`cohesion_um`, `cohesion_min`).
    """

    smooth_um: float = 0.75
    threshold: str = "local"  # "otsu" (one threshold per region) or "local" (also above the local mean)
    #: floor of the haematoxylin threshold: the pale vesicular tumour nuclei of a pale real stain (BCI patches)
    #: read 0.03-0.08 OD, so a 0.06 floor left whole fields of them undetected
    min_hema_od: float = 0.03
    local_block_um: float = 50.0
    local_factor: float = 1.2
    split_min_distance_um: float = 3.5
    min_area_um2: float = 12.0
    max_area_um2: float = 300.0
    min_solidity: float = 0.7
    tumour_min_area_um2: float = 30.0
    tumour_min_axis_ratio: float = 0.5
    lymphocyte_max_area_um2: float = 60.0
    lymphocyte_darkness: float = 1.25
    #: invasive carcinoma grows in cohesive nests, cords and sheets: a tumour cell needs at least
    #: `cohesion_min` other tumour-like nuclei within `cohesion_um` (scattered stromal, fat and lymphoid
    #: nuclei of a field without carcinoma are not counted); 0 turns the rule off
    cohesion_um: float = 30.0
    cohesion_min: int = 3


@dataclass(frozen=True)
class CellParams:
    """Cell expansion from the nucleus and the membrane ring measured on it."""

    expand_um: float = 5.0
    ring_um: float = 4.0
    sectors: int = 16
    sector_stat: str = "percentile"  # "percentile" of the sector's pixels or "radial" peak of ring means
    sector_percentile: float = 90.0
    dab_smooth_um: float = 0.0
    intensity_stat: str = "median"  # of the stained sectors' values: "median" (what most of the ring shows) or "mean"
    relative_stained: float = 0.35  # a stained sector also needs >= this x the cell's brightest sector (0: off)
    #: what is taken off each sector's DAB before it is judged: "none", or "ring" = the `background_percentile`
    #: of the cell's whole ring (diffuse cytoplasmic DAB spreads over the ring; a membrane is a line above it)
    background: str = "none"
    background_percentile: float = 25.0
    #: DAB OD from which a ring sector counts as stained for completeness; None: the faint cut-off. A stain
    #: profile fixes it at the value its images were measured with, so its completeness cut stays valid.
    sector_floor: float | None = None


@dataclass(frozen=True)
class RulesParams:
    """Everything the rules scorer can be told; `from_extra` reads ScoreOptions.extra["rules"]."""

    membrane: MembraneThresholds = field(default_factory=MembraneThresholds)
    nucleus: NucleusParams = field(default_factory=NucleusParams)
    cell: CellParams = field(default_factory=CellParams)
    stains: str = "macenko"  # "macenko" (estimated per region) or "default" (Ruifrok H-DAB)
    work_mpp: float = 0.5  # finer scans are resampled to this before detection
    #: coarser images (a 5x scan, a low-magnification tile) are enlarged to this before detection: a 6 um
    #: nucleus spans 3 px at 2 um/px, too few for a threshold and a 3 px opening to keep it
    max_work_mpp: float = 1.0
    tile_um: float = 512.0
    overlap_um: float = 20.0
    workers: int = 0  # 0: one per CPU core, at most 4
    bootstrap: int = 200
    threshold_jitter: float = 0.1  # relative sd of the OD thresholds in the bootstrap
    seed: int = 0
    criteria: str = "breast"  # "breast" (ASCO/CAP 2018/2023) or "gastric" (ASCO/CAP/ASCP 2016)
    specimen: str = "resection"  # gastric only: "resection" (>= 10% of cells) or "biopsy" (a cluster of >= 5)
    positive_pct: float = 10.0  # ASCO/CAP's "> 10% of tumour cells"; a stain profile may refit it
    profile: dict[str, Any] | None = None  # the stain profile these thresholds came from (name, path, values)
    #: the stain profile's call precision on labelled real images (rows: call 0..3+, columns: label), or None:
    #: the probabilities are the bootstrap's alone (`her2viewer.scoring.rules.confidence`); breast criteria only
    confidence_matrix: list[list[float]] | None = None

    @property
    def sector_floor(self) -> float:
        """The DAB OD from which a ring sector is stained (see `CellParams.sector_floor`)."""
        return self.cell.sector_floor if self.cell.sector_floor is not None else self.membrane.faint

    @classmethod
    def from_extra(cls, extra: dict[str, Any] | None, seed: int = 0) -> RulesParams:
        """Parameters with overrides from a (nested) dict, e.g. {"membrane": {"strong": 0.6}}."""
        extra = dict(extra or {})
        kw: dict[str, Any] = {"seed": seed}
        nested = {"membrane": MembraneThresholds, "nucleus": NucleusParams, "cell": CellParams}
        names = {f.name for f in fields(cls)}
        for key, value in extra.items():
            if key in nested:
                kw[key] = replace(nested[key](), **value) if isinstance(value, dict) else value
            elif key in names:
                kw[key] = value
            else:
                raise ValueError(f"unknown rules scorer option {key!r}")
        return cls(**kw)

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form for the result's params."""
        return asdict(self)
