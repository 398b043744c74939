"""The same batch on 2 local processes and on a dask.distributed LocalCluster: identical outputs."""
from __future__ import annotations

from pathlib import Path

import pytest

from nimask.__main__ import main
from nimask.batch import extract_batch, parse_atlas, parse_spheres, parse_strategy
from nimask.datasets import write_bids_derivatives


def _outputs(folder: Path) -> dict[str, bytes]:
    """Every output file's bytes (the manifest, with timings and pids, left out)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".nimask" not in p.parts}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("par")
    data = write_bids_derivatives(root, subjects=("01", "02"), sessions=("1", "2"), shape=(10, 12, 10), n_volumes=40)
    atlases = [parse_atlas(f"{data['labels']},lut={data['lut']}"), parse_atlas(str(data["maps"])),
               parse_spheres(f"{data['spheres']},radius=5")]
    strategies = [parse_strategy("motion24+wm_csf"), parse_strategy("motion6+gsr+scrub0.5")]
    serial = extract_batch(data["root"], root / "serial", atlases, strategies, progress=False)
    assert serial.exit_code == 0 and len(serial.done) == 4
    return data, root, atlases, strategies, _outputs(root / "serial")


@pytest.mark.slow  # worker start-up (~5 s on 2 busy cores)
def test_two_local_processes_give_identical_outputs(job):
    data, root, atlases, strategies, reference = job
    summary = extract_batch(data["root"], root / "procs", atlases, strategies, n_jobs=2, progress=False)
    assert summary.exit_code == 0
    assert len({r["pid"] for r in summary.done}) == 2  # really two worker processes
    assert _outputs(root / "procs") == reference


@pytest.mark.slow  # cluster start-up (~10 s on 2 busy cores)
def test_dask_local_cluster_gives_identical_outputs(job):
    import distributed
    data, root, atlases, strategies, reference = job
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        argv = ["extract", str(data["root"]), str(root / "dask"), "--atlas", f"{data['labels']},lut={data['lut']}",
                "--atlas", str(data["maps"]), "--spheres", f"{data['spheres']},radius=5",
                "--strategy", "motion24+wm_csf", "--strategy", "motion6+gsr+scrub0.5",
                "--dask-scheduler", cluster.scheduler_address, "-q"]
        assert main(argv) == 0
        with distributed.Client(cluster) as client:
            api = extract_batch(data["root"], root / "dask_api", atlases, strategies, client=client, progress=False)
            worker_pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert _outputs(root / "dask") == reference
    assert _outputs(root / "dask_api") == reference
    assert {r["pid"] for r in api.done} <= worker_pids  # the runs ran on the workers


@pytest.mark.slow  # worker start-up (~5 s on 2 busy cores)
def test_an_incremental_batch_on_two_local_processes_gives_identical_outputs(job):
    """The tasks of an incremental batch (some outputs of each run) travel to the workers and back."""
    data, root, atlases, strategies, reference = job
    out = root / "procs_incr"
    assert extract_batch(data["root"], out, atlases[:1], strategies[:1], progress=False).exit_code == 0
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*.tsv")}
    summary = extract_batch(data["root"], out, atlases, strategies, n_jobs=2, progress=False)
    assert summary.exit_code == 0 and len(summary.done) == 4
    assert all(len(r["outputs"]) == 3 * 5 - 3 for r in summary.done)  # all but the 3 files done before
    assert {p: p.stat().st_mtime_ns for p in first} == first
    assert _outputs(out) == reference
