"""Torch datasets for training: PSS (a fresh random Pyramid-Sampling Set per item per epoch), low
resolution (the whole item resized), and labelled patches; plus the DataLoader with seeded workers.

Every sample is drawn with its own generator seeded by (seed, epoch, item index, draw), so a run is
reproducible whatever the number of workers and a resumed run sees the samples it would have seen.
Each worker caches what it decoded (PSS samplers, small images); persistent workers keep it across epochs.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from her2viewer.slide.base import SlideSource
from her2viewer.slide.region import Region

from .augment import Augment, augment_stack
from .items import Item
from .opencv_fork import opencv_single_threaded

log = logging.getLogger(__name__)


def item_region(source: SlideSource, item: Item) -> Region:
    """The region to sample for this item: the named TMA core (item.region), or else the whole tissue of
    the image (an item without a core id is one sample), as found by `her2viewer.tissue.regions.regions_for`.
    The source's pixel size is resolved first, as the input checks do before scoring (file, else estimated
    from the nuclei, else assumed), so training and evaluation see the scale the product scores at."""
    try:
        from her2viewer.tissue.regions import regions_for
    except ImportError:  # scoring driver not installed: the whole image, tissue found by the sampler
        w, h = source.dimensions
        return Region((0, 0, int(w), int(h)), None, item.region or "core")
    from her2viewer.qc.pixel_size import resolve_pixel_size

    resolve_pixel_size(source)
    if not item.region:
        # an item without a core id is one sample (a core image or a slide): its whole tissue, or the whole
        # image when no tissue is found (the item is still a labelled sample)
        regions = regions_for(source, "slide")[1]
        if not regions:
            w, h = source.dimensions
            return Region((0, 0, int(w), int(h)), None, "slide")
        return regions[0]
    kind, regions = regions_for(source, "cores")
    for r in regions:
        if r.id == item.region:
            return r
    raise ValueError(f"{item.path}: no core {item.region!r} (found {', '.join(r.id for r in regions)})")


def sample_rng(seed: int, epoch: int, index: int, draw: int = 0) -> np.random.Generator:
    """The generator for one sample: a pure function of (seed, epoch, item index, draw)."""
    return np.random.default_rng([int(seed), int(epoch), int(index), int(draw)])


class _EpochDataset(Dataset):
    """Common base: items, class indices, epoch-dependent seeds, samples_per_item draws per epoch."""

    def __init__(self, items: Sequence[Item], labels: Sequence[int], *, seed: int = 0,
                 augment: Augment | None = None, samples_per_item: int = 1, stain: Any = None) -> None:
        self.items = list(items)
        self.stain = stain  # a StainReference (her2viewer.models.stain_normalisation) the images are normalised to
        self.labels = [int(v) for v in labels]
        self.seed = seed
        self._epoch = mp.Value("i", 0, lock=False)  # shared with forked (persistent) workers
        self.augment = augment or Augment.off()
        self.samples_per_item = max(1, samples_per_item)

    @property
    def epoch(self) -> int:
        """The epoch whose samples __getitem__ draws."""
        return int(self._epoch.value)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose samples __getitem__ draws (before iterating; workers see it too)."""
        self._epoch.value = int(epoch)

    def __len__(self) -> int:
        return len(self.items) * self.samples_per_item

    def _draw(self, item: Item, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def open_item(self, item: Item) -> SlideSource:
        """The item's slide, as the model sees it (normalised to the dataset's stain reference, if any)."""
        from her2viewer.slide import open_slide

        source = open_slide(item.path)
        if self.stain is None:
            return source
        from her2viewer.models.stain_normalisation import NormalisedSource

        return NormalisedSource(source, self.stain)  # type: ignore[return-value]

    def _draw_index(self, i: int, rng: np.random.Generator) -> np.ndarray:
        return self._draw(self.items[i], rng)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i, draw = divmod(index, self.samples_per_item)
        rng = sample_rng(self.seed, self.epoch, i, draw)
        x = self._draw_index(i, rng)
        if self.augment != Augment.off():
            x = augment_stack(x, self.augment, rng)
        return torch.from_numpy(np.ascontiguousarray(x)), self.labels[i]


class PSSDataset(_EpochDataset):
    """A fresh random PSS (C x H x W uint8, C = 3 x patch count) per item per epoch, with its label.

    Each worker keeps the `PSSSampler` of up to `cache_items` items (the region read once at the model
    resolution); the opened slide itself is let go once its sampler holds the canvas.
    """

    def __init__(self, items: Sequence[Item], labels: Sequence[int], spec: Any, cache_items: int = 128,
                 **kw: Any) -> None:
        super().__init__(items, labels, **kw)
        self.spec = spec
        self.cache_items = cache_items
        self._samplers: OrderedDict[int, Any] = OrderedDict()

    def sampler_for(self, i: int) -> Any:
        """The cached PSSSampler of item i (built on first use in this process)."""
        hit = self._samplers.get(i)
        if hit is not None:
            self._samplers.move_to_end(i)
            return hit
        from her2viewer.scoring.pss.sampler import PSSSampler
        item = self.items[i]
        source = self.open_item(item)
        sampler = PSSSampler(source, item_region(source, item), self.spec)
        if getattr(sampler, "_full", None) is not None:  # crops come from memory: the slide is not needed
            source.close()
            sampler.source = None
        self._samplers[i] = sampler
        while len(self._samplers) > self.cache_items:
            self._samplers.popitem(last=False)
        return sampler

    def _draw_index(self, i: int, rng: np.random.Generator) -> np.ndarray:
        stack, _boxes = self.sampler_for(i).sample(rng)
        return stack

    def preload(self, workers: int = 2) -> None:
        """Build every item's sampler now (in `workers` processes), so forked loader workers share them."""
        self.cache_items = max(self.cache_items, len(self.items))
        todo = [i for i in range(len(self.items)) if i not in self._samplers]
        if workers > 1 and len(todo) > 1:
            global _PRELOADING
            _PRELOADING = self  # inherited by the forked pool
            ctx = mp.get_context("fork")
            try:
                with opencv_single_threaded(), ctx.Pool(workers, initializer=_worker_init, initargs=(0,)) as pool:
                    for i, sampler in zip(todo, pool.imap(_build_sampler, todo), strict=True):
                        if sampler is not None:
                            self._samplers[i] = sampler
            finally:
                _PRELOADING = None
        else:
            for i in todo:
                self.sampler_for(i)


_PRELOADING: PSSDataset | None = None


def _build_sampler(i: int) -> Any:
    """Pool task of `PSSDataset.preload`: the sampler of item i of the dataset being preloaded, or None when
    it reads its slide on demand (an open slide cannot be sent between processes; it is opened later)."""
    assert _PRELOADING is not None
    sampler = _PRELOADING.sampler_for(i)
    return sampler if sampler.in_memory else None


def _read_whole(source: SlideSource, size: int) -> np.ndarray:
    """The whole image at the coarsest level that is still >= size, RGB uint8."""
    dims = source.level_dimensions
    level = 0
    for lv, (w, h) in enumerate(dims):
        if min(w, h) >= size:
            level = lv
    w, h = dims[level]
    return source.read_region(level, 0, 0, int(w), int(h))


class LowResDataset(_EpochDataset):
    """The whole item resized to size x size (3 x S x S uint8); augmentation varies per epoch."""

    def __init__(self, items: Sequence[Item], labels: Sequence[int], size: int = 224, **kw: Any) -> None:
        super().__init__(items, labels, **kw)
        self.size = size
        self._small: dict[str, np.ndarray] = {}

    def _draw(self, item: Item, rng: np.random.Generator) -> np.ndarray:
        img = self._small.get(item.path)
        if img is None:
            source = self.open_item(item)
            try:
                img = cv2.resize(_read_whole(source, self.size), (self.size, self.size),
                                 interpolation=cv2.INTER_AREA)
            finally:
                source.close()
            self._small[item.path] = img
        return img.transpose(2, 0, 1)


class PatchDataset(_EpochDataset):
    """Labelled patch image files (exported from annotations), resized to size x size."""

    def __init__(self, items: Sequence[Item], labels: Sequence[int], size: int = 224, **kw: Any) -> None:
        super().__init__(items, labels, **kw)
        self.size = size

    def _draw(self, item: Item, rng: np.random.Generator) -> np.ndarray:
        bgr = cv2.imread(item.path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise OSError(f"cannot read the patch image {item.path}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if rgb.shape[:2] != (self.size, self.size):
            rgb = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return rgb.transpose(2, 0, 1)


def _worker_init(worker_id: int) -> None:
    """One torch thread per worker (the main process does the maths) and a seeded numpy state."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    np.random.seed(torch.initial_seed() % 2**32)


class ForkSafeLoader(DataLoader):
    """A DataLoader that forks its workers with OpenCV at one thread (`training.opencv_fork`): a worker forked
    while the parent's OpenCV thread pool has been used hangs in `_worker_init`'s setNumThreads."""

    def _get_iterator(self):  # type: ignore[no-untyped-def]
        if self.num_workers == 0:
            return super()._get_iterator()
        with opencv_single_threaded():
            return super()._get_iterator()  # the workers are forked here


def make_loader(ds: Dataset, *, batch_size: int, shuffle: bool, num_workers: int, seed: int,
                epoch: int = 0, collate: Callable | None = None, persistent: bool = False) -> DataLoader:
    """A DataLoader whose order is a function of (seed, epoch) (see `reseed_loader`); workers decode and
    augment; persistent workers keep their caches across epochs."""
    g = torch.Generator()
    g.manual_seed(int(seed) * 100_003 + int(epoch))
    return ForkSafeLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                          worker_init_fn=_worker_init if num_workers else None, generator=g,
                          drop_last=False, persistent_workers=persistent and num_workers > 0, collate_fn=collate,
                          prefetch_factor=2 if num_workers else None)


def reseed_loader(loader: DataLoader, seed: int, epoch: int) -> None:
    """Make the next iteration's shuffling a function of (seed, epoch) (resume-safe)."""
    if loader.generator is not None:
        loader.generator.manual_seed(int(seed) * 100_003 + int(epoch))
