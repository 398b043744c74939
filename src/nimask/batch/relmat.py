"""Per-run connectomes of a batch (``nimask extract --connectome KINDS [--fisher-z]``).

Each time series output gets, for each kind asked, ``<stem>_atlas-<A>_desc-<S>_meas-<Measure>_relmat.tsv``
(BIDS connectivity-derivatives style): a square matrix, one row and one column per region in the
order of the time series columns, the region names as header (no index column), and a JSON sidecar
(the estimator, the volumes used, the regions excluded and why).

The matrix is :class:`nimask.connectome.ConnectivityMeasure`'s (nilearn 0.14.1's numbers, Ledoit-Wolf
covariance estimator) on the rows the time series keeps: with ``--censor zero`` or ``interpolate``
the censored rows of the TSV are left out, so that every mode gives the matrix of the kept volumes.
A region without signal (an ``n/a`` column) is left out of the estimate; its row and column are
``n/a`` and the sidecar names it. With ``--fisher-z``, correlation and partial correlation are
written as Fisher z (``arctanh``), the diagonal as ``n/a`` (the z of 1 is infinite).
"""
from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import ParameterError

__all__ = ["FISHER_Z_KINDS", "MEASURES", "parse_connectome", "relmat", "relmat_sidecar"]

#: kind -> the ``meas-`` entity of its file
MEASURES = {"correlation": "PearsonCorrelation", "partial_correlation": "PartialCorrelation",
            "covariance": "Covariance", "precision": "Precision"}
#: the kinds that ``--fisher-z`` transforms
FISHER_Z_KINDS = ("correlation", "partial_correlation")


def parse_connectome(text: str | list | tuple | None) -> tuple[str, ...]:
    """``"correlation,partial_correlation"`` (or a list of kinds) -> the kinds, each once, in order.

    ``partial correlation`` and ``partial-correlation`` are read as ``partial_correlation``.

    Raises
    ------
    ParameterError
        An unknown kind (``tangent`` is a group estimate: ``nimask group --tangent``).
    """
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        kind = str(item).strip().lower().replace(" ", "_").replace("-", "_")
        if not kind:
            continue
        if kind not in MEASURES:
            hint = (" tangent-space connectomes compare runs with a group mean: 'nimask group OUT_DIR --tangent'"
                    " computes them across the runs of a batch." if kind == "tangent" else "")
            raise ParameterError(f"--connectome: unknown kind {item!r}; expected a comma-separated list of "
                                 f"{', '.join(MEASURES)}.{hint}", param="connectome", expected=list(MEASURES),
                                 found=item)
        if kind not in out:
            out.append(kind)
    return tuple(out)


def relmat(signals: np.ndarray, kind: str, fisher_z: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The ``kind`` matrix of one run's ``(volumes, regions)`` time series, and the regions left out.

    Returns
    -------
    matrix : (regions, regions) float64 ndarray
        NaN rows and columns for the regions left out (all-NaN columns of ``signals``).
    excluded : ndarray of int
        Their column indices.
    """
    from ..connectome import ConnectivityMeasure
    from ..exceptions import NimaskDataWarning

    x = np.asarray(signals, dtype=np.float64)
    measure = ConnectivityMeasure(kind=kind.replace("_", " "))
    with warnings.catch_warnings():  # the regions without signal are said in the sidecar
        warnings.simplefilter("ignore", NimaskDataWarning)
        matrix = measure.fit_transform([x])[0].astype(np.float64)
    excluded = np.asarray(measure.excluded_regions_[0], dtype=np.intp)
    if fisher_z and kind in FISHER_Z_KINDS:
        with np.errstate(divide="ignore", invalid="ignore"):
            matrix = np.arctanh(matrix)
        np.fill_diagonal(matrix, np.nan)
    return matrix, excluded


def relmat_sidecar(kind: str, fisher_z: bool, names: list, excluded: np.ndarray, reasons: dict,
                   volumes: list, source: str) -> dict:
    """The JSON sidecar of a relmat: what it holds, how it was estimated, from which rows and regions
    (``reasons``: region name -> why its column is ``n/a``, as the coverage table says)."""
    z = fisher_z and kind in FISHER_Z_KINDS
    return {
        "Description": f"{kind.replace('_', ' ').capitalize()} matrix of the region time series {source!r}"
                       + (", Fisher z-transformed (arctanh; diagonal n/a)." if z else "."),
        "Measure": MEASURES[kind],
        "Kind": kind,
        "Estimator": "nimask.connectome.ConnectivityMeasure (nilearn 0.14.1's numbers), covariance estimator "
                     "sklearn.covariance.LedoitWolf(store_precision=False)",
        "FisherZ": bool(z),
        "Source": source,
        "Regions": [str(n) for n in names],
        "NumberOfVolumesUsed": len(volumes),
        "VolumesUsed": [int(v) for v in volumes],
        "RegionsExcluded": [{"name": str(names[j]),
                             "reason": reasons.get(str(names[j]), "no signal (an n/a column in the time series)")}
                            for j in excluded],
    }
