"""ConnectivityMeasure, nimask vs nilearn: "tangent" and "correlation" on generated time series.

Run: ``.venv/bin/python benchmarks/bench_connectome.py [tangent] [correlation] [--size RUNSxREGIONSxVOLUMES]``
(default size ``200x400x300``: 200 runs of 300 volumes, 400 regions).
Cases, each in a fresh process (wall time of ``fit_transform`` and peak RSS, the time series
loaded in the untimed setup): nilearn and nimask ``ConnectivityMeasure(kind=...)`` with the
default Ledoit-Wolf estimate; nimask's output is compared with nilearn's.

The time series (generated once, cached under ``benchmarks/_data``, float64) have a shared
structure: 20 latent signals seen through one loading matrix by every run, plus each run's own
loadings and noise, so the covariances are full rank but far from the identity (the geometric
mean of "tangent" then needs several iterations, as on real data).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import DATA_DIR, run_cases  # noqa: E402

SIZE_ENV = "NIMASK_BENCH_CONNECTOME_SIZE"
DEFAULT_SIZE = "200x400x300"
_SUBJECTS = []


def _size() -> tuple[int, int, int]:
    runs, regions, volumes = (int(v) for v in os.environ.get(SIZE_ENV, DEFAULT_SIZE).split("x"))
    return runs, regions, volumes


def _data_path() -> str:
    runs, regions, volumes = _size()
    return os.path.join(DATA_DIR, f"connectome_{runs}x{regions}x{volumes}.npy")


def generate() -> str:
    """Write the (runs, volumes, regions) float64 time series once; return the path."""
    import numpy as np

    path = _data_path()
    if os.path.exists(path):
        return path
    runs, regions, volumes = _size()
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((regions, 20)) / np.sqrt(20)
    data = np.lib.format.open_memmap(path + ".part", mode="w+", dtype=np.float64, shape=(runs, volumes, regions))
    for i in range(runs):
        own = shared + 0.3 * rng.standard_normal((regions, 20)) / np.sqrt(20)
        latent = rng.standard_normal((volumes, 20))
        scale = rng.uniform(0.5, 2.0, regions)
        data[i] = (latent @ own.T + rng.standard_normal((volumes, regions))) * scale + rng.uniform(-50, 50, regions)
    data.flush()
    del data
    os.replace(path + ".part", path)
    return path


def _load():
    import numpy as np

    _SUBJECTS[:] = list(np.load(_data_path()))  # one array per run, read before the timed call


def _setup_nilearn():
    import nilearn.connectome  # noqa: F401

    _load()


def _setup_nimask():
    import nimask.connectome  # noqa: F401

    _load()


def _run(module, kind):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a non-converged geometric mean warns in both
        return module.ConnectivityMeasure(kind=kind).fit_transform(_SUBJECTS)


def nilearn_tangent_setup():
    _setup_nilearn()


def nilearn_tangent():
    from nilearn import connectome

    return _run(connectome, "tangent")


def nimask_tangent_setup():
    _setup_nimask()


def nimask_tangent():
    from nimask import connectome

    return _run(connectome, "tangent")


def nilearn_correlation_setup():
    _setup_nilearn()


def nilearn_correlation():
    from nilearn import connectome

    return _run(connectome, "correlation")


def nimask_correlation_setup():
    _setup_nimask()


def nimask_correlation():
    from nimask import connectome

    return _run(connectome, "correlation")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--size" in args:
        at = args.index("--size")
        os.environ[SIZE_ENV] = args[at + 1]
        del args[at:at + 2]
    os.environ.setdefault(SIZE_ENV, DEFAULT_SIZE)  # the child processes read it
    os.makedirs(DATA_DIR, exist_ok=True)
    generate()
    runs, regions, volumes = _size()
    input_mb = runs * regions * volumes * 8 / 2**20
    for kind in args or ["correlation", "tangent"]:
        name = kind.replace(" ", "_")
        run_cases({f"nilearn {kind}": f"bench_connectome:nilearn_{name}",
                   f"nimask {kind}": f"bench_connectome:nimask_{name}"},
                  baseline=f"nilearn {kind}", reference=f"nilearn {kind}", compare=(f"nimask {kind}",),
                  title=f"connectome_{name}: {runs} runs x {regions} regions x {volumes} volumes",
                  notes={"input": f"{input_mb:.0f} MB of float64 time series, loaded before the timed call "
                                  "(in the peak RSS); output: "
                                  f"{runs * regions * regions * 8 / 2**20:.0f} MB"})


if __name__ == "__main__":
    main()
