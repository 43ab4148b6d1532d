"""Batch scoring of a project's images (every core of a TMA) on one machine or a Ray cluster, resumable, with
a cohort table. The driver alone writes to the project; workers only score and send results back."""

from .cohort import cohort_rows, write_cohort
from .runner import BatchSettings, BatchSummary, run_batch
from .worker import BatchJob, ItemOutcome, score_one

__all__ = ["BatchJob", "BatchSettings", "BatchSummary", "ItemOutcome", "cohort_rows", "run_batch", "score_one",
           "write_cohort"]
