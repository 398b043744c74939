"""Batch extraction over fMRIPrep / BIDS derivatives: one read of each run, many outputs.

``nimask extract`` is :func:`extract_batch`; the pieces are plain modules:

* :mod:`~nimask.batch.bids` finds the runs and their masks, confounds and sidecars;
* :mod:`~nimask.batch.strategies` builds confounds and sample masks from presets or JSON;
* :mod:`~nimask.batch.atlases` fits labels / maps / spheres atlases on a run's grid;
* :mod:`~nimask.batch.job` streams a run once and writes every atlas x strategy output;
* :mod:`~nimask.batch.atomic` and :mod:`~nimask.batch.manifest` make reruns safe;
* :mod:`~nimask.batch.interrupt` stops a batch gracefully on SIGINT / SIGTERM;
* :mod:`~nimask.batch.runner` runs the jobs here, in local processes or on Dask;
* :mod:`~nimask.batch.group` reads a finished batch: group QC tables, QC-FC, tangent connectomes
  and one HTML QC page (``nimask group``, :func:`group_outputs`).
"""
from .atlases import AtlasSpec, parse_atlas, parse_spheres
from .bids import BoldRun, find_runs
from .group import GroupSummary, group_outputs
from .job import RunTask, run_task
from .runner import BatchSummary, extract_batch
from .strategies import Strategy, parse_strategy, select_confounds

__all__ = [
    "AtlasSpec", "BatchSummary", "BoldRun", "GroupSummary", "RunTask", "Strategy", "extract_batch", "find_runs",
    "group_outputs", "parse_atlas",
    "parse_spheres", "parse_strategy", "run_task", "select_confounds",
]
