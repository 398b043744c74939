"""NiftiLabelsMasker: one signal per region of a labels atlas (nilearn 0.14.1 numbers).

The atlas is analysed once per grid (:func:`nimask.regions._labels.prepare_labels`); the
image is then streamed chunk by chunk (resampled onto the atlas grid for
``resampling_target="labels"``, smoothed when asked) and each chunk is reduced to its
region values at once, so the 4D run is never held in memory. The ``(T, n_regions)``
signals are then cleaned by :func:`nimask.signal.clean`.

Beyond nilearn (opt-in; the defaults give nilearn's output)
-----------------------------------------------------------
* ``keep_all_regions=True``: one column for every label of the atlas (and of ``lut``),
  sorted by label value, NaN for regions left empty by the mask or by resampling. The
  fitted ``region_coverage_`` DataFrame gives, per region, its voxels in the atlas (on
  the atlas grid), the voxels kept on the extraction grid, the kept fraction of its
  volume and, for NaN columns, the reason.
* ``min_coverage`` (fraction in [0, 1]): regions whose kept fraction of volume is below
  it give NaN columns; ``region_coverage_`` records why.

Differences from nilearn
------------------------
* Bad atlases raise :class:`~nimask.exceptions.AtlasError` naming the values: non-integer
  labels (nilearn silently compares floats), negative labels other than
  ``background_label``, only background. A 4D atlas with several volumes raises
  ``DimensionError`` suggesting ``NiftiMapsMasker``.
* ``mask_img`` must be binary (as nimask's NiftiMasker; nilearn binarises {0, 2, 3}).
* ``lut`` missing label values present in the image: nilearn silently names them
  "unknown"; nimask does the same and warns, naming the values.
* ``self.labels`` is not rewritten in place ("background" → "Background" is applied to a
  copy), and ``memory_level`` is never changed in place.
* ``inverse_transform`` with ``keep_masked_labels=True`` writes each column into its own
  region (nilearn writes column j into the j-th region left by the mask, so the regions
  after a removed one receive their neighbour's column).
* The median of integer data is averaged in float64 (scipy adds the two middle values in
  the integer dtype, which can overflow).
* ``memory_level > 1`` without a cache location warns (nilearn 0.14.1 crashes).
* ``generate_report()`` gives nimask's own self-contained HTML page (regions over the mean
  image, coverage, dropped regions, cleaning steps, warnings, carpet plot); ``cmap`` colours
  the regions and ``reports=False`` records nothing for it.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from typing import Any

import numpy as np

from .._niimg import affines_close, check_header_t_r, check_niimg, same_fov
from ..exceptions import AtlasError, GeometryError, NimaskDataWarning, NimaskGeometryWarning, ParameterError
from ..regions._labels import (
    check_labels_data,
    check_strategy,
    prepare_labels,
    signals_to_labels_array,
)
from ._base import _BaseMasker, binarised_mask, fingerprint, source_dtype
from ..reporting._record import reported

__all__ = ["NiftiLabelsMasker"]

_TARGETS = ("data", "labels", None)


# ------------------------------------------------------------------------------ look-up tables
def read_lut(lut: Any):
    """A BIDS-style look-up table (``index`` and ``name`` columns) as a DataFrame.

    ``lut`` is a DataFrame or the path of a delimited text file (tab, comma, semicolon or
    whitespace, sniffed from the first line).
    """
    import pandas as pd

    if isinstance(lut, pd.DataFrame):
        table = lut.copy()
        source = "lut"
    elif isinstance(lut, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(lut))
        if not os.path.isfile(path):
            raise AtlasError(f"'lut': the look-up table file {path!r} does not exist.", param="lut", path=path)
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
        sep = next((s for s in ("\t", ",", ";") if s in first), r"\s+")
        table = pd.read_csv(path, sep=sep, engine="python")
        source = repr(path)
    else:
        raise TypeError(f"'lut' must be a pandas DataFrame or the path of a TSV file; got {type(lut).__name__}.")
    missing = [c for c in ("index", "name") if c not in table.columns]
    if missing:
        raise AtlasError(
            f"'lut' ({source}) must have the columns 'index' and 'name'; missing {missing}, found "
            f"{list(table.columns)}.",
            param="lut", expected=["index", "name"], found=list(table.columns),
        )
    return table


def build_lut(present: np.ndarray, background_label: Any, *, labels=None, lut=None, warn_missing: bool = True):
    """nilearn's ``lut_`` (spec §4.2): one row per present label value, sorted by index.

    Parameters
    ----------
    present : ndarray
        Sorted unique label values of the atlas (background included when present).
    background_label : number
    labels : list of str or None
        Names matched to ``present`` ("Background" inserted at the background's place).
    lut : DataFrame or path or None
        A table with ``index`` and ``name`` columns.
    """
    import pandas as pd

    has_bg = bool(np.any(present == background_label))
    if lut is not None:
        table = read_lut(lut)
    elif labels is not None:
        names = list(labels)
        if "Background" not in names and has_bg:
            names.insert(int(np.searchsorted(present, background_label)), "Background")
        if len(names) > present.size:
            warnings.warn(
                f"Too many names for the labels image: {len(names)} names for {present.size} label "
                f"values (background included); the last {len(names) - present.size} names are dropped.",
                UserWarning, stacklevel=4,
            )
            names = names[: present.size]
        elif len(names) < present.size:
            warnings.warn(
                f"Too few names for the labels image: {len(names)} names for {present.size} label values "
                f"(background included); the values {present[len(names):].tolist()} are named 'unknown'.",
                UserWarning, stacklevel=4,
            )
            names = names + ["unknown"] * (present.size - len(names))
        table = pd.DataFrame({"index": present, "name": names})
    else:
        table = pd.DataFrame({"index": present, "name": [str(v) for v in present.tolist()]})
    table = table.reset_index(drop=True)
    is_bg = table["index"].to_numpy() == background_label
    if is_bg.any():
        first = int(np.flatnonzero(is_bg)[0])
        table.loc[first, "name"] = "Background"
        table = pd.concat([table.iloc[[first]], table.drop(index=first)]).reset_index(drop=True)
    else:
        row = {c: np.nan for c in table.columns}
        row.update({"index": background_label, "name": "Background"})
        if "color" in table.columns:
            row["color"] = "FFFFFF"
        table = pd.concat([pd.DataFrame([row]), table]).reset_index(drop=True)
    index = table["index"].to_numpy()
    table = table[np.isin(index, present)]
    absent = present[~np.isin(present, table["index"].to_numpy())]
    if absent.size:
        if lut is not None and warn_missing:
            warnings.warn(
                f"'lut' has no row for the label values {absent.tolist()} of labels_img; they are named "
                f"'unknown'.",
                NimaskDataWarning, stacklevel=4,
            )
        extra = pd.DataFrame({"index": absent, "name": ["unknown"] * absent.size})
        table = pd.concat([table, extra])
    table = table.sort_values("index", kind="stable").reset_index(drop=True)
    values = table["index"].to_numpy()
    if values.dtype.kind == "f" and np.all(values == np.round(values)) and present.dtype.kind in "iu":
        table["index"] = values.astype(np.int64)
    return table


# ------------------------------------------------------------------------------ the masker
class NiftiLabelsMasker(_BaseMasker):
    """Extract one signal per region of a 3D labels atlas (``strategy`` over its voxels).

    Parameters
    ----------
    labels_img : 3D niimg-like
        Integer labels; ``background_label`` means "no region".
    labels : list of str or None
        Region names, matched to the sorted label values (background included).
    lut : DataFrame, path or None
        Look-up table with ``index`` and ``name`` columns (BIDS dseg.tsv style).
    background_label : number, default=0
    mask_img : 3D niimg-like or None
        Binary mask; voxels outside it count as background.
    smoothing_fwhm, standardize, standardize_confounds, high_variance_confounds, detrend,
    low_pass, high_pass, t_r, dtype, memory, memory_level, verbose, reports, cmap, clean_args
        As nilearn.
    resampling_target : {"data", "labels", None}, default="data"
    strategy : {"mean", "median", "sum", "minimum", "maximum", "standard_deviation", "variance"}
    keep_masked_labels : bool, default=False
        Deprecated in nilearn: regions removed by the mask give zero columns.
    keep_all_regions : bool, default=False
        nimask only: a column for every label of the atlas/LUT, NaN where a region is empty.
    min_coverage : float or None, default=None
        nimask only: regions keeping less than this fraction of their volume give NaN.

    Attributes
    ----------
    labels_img_, mask_img_, lut_, labels_, n_elements_, region_ids_, region_names_,
    region_atlas_ (after transform), region_coverage_ (after transform)
    """

    _bool_params = ("detrend", "standardize_confounds", "keep_masked_labels")
    _fitted_attrs = ("labels_img_", "lut_")

    def __init__(
        self,
        labels_img=None,
        labels=None,
        lut=None,
        background_label=0,
        mask_img=None,
        smoothing_fwhm=None,
        standardize=False,
        standardize_confounds=True,
        high_variance_confounds=False,
        detrend=False,
        low_pass=None,
        high_pass=None,
        t_r=None,
        dtype=None,
        resampling_target="data",
        memory=None,
        memory_level=1,
        verbose=0,
        strategy="mean",
        keep_masked_labels=False,
        reports=True,
        cmap=None,
        clean_args=None,
        keep_all_regions=False,
        min_coverage=None,
    ):
        self.labels_img = labels_img
        self.labels = labels
        self.lut = lut
        self.background_label = background_label
        self.mask_img = mask_img
        self.smoothing_fwhm = smoothing_fwhm
        self.standardize = standardize
        self.standardize_confounds = standardize_confounds
        self.high_variance_confounds = high_variance_confounds
        self.detrend = detrend
        self.low_pass = low_pass
        self.high_pass = high_pass
        self.t_r = t_r
        self.dtype = dtype
        self.resampling_target = resampling_target
        self.memory = memory
        self.memory_level = memory_level
        self.verbose = verbose
        self.strategy = strategy
        self.keep_masked_labels = keep_masked_labels
        self.reports = reports
        self.cmap = cmap
        self.clean_args = clean_args
        self.keep_all_regions = keep_all_regions
        self.min_coverage = min_coverage

    # ---- parameters ----------------------------------------------------------------------
    def _check_labels_params(self) -> None:
        check_strategy(self.strategy)
        if not any(self.resampling_target is t or self.resampling_target == t for t in _TARGETS if t is not None) \
                and self.resampling_target is not None:
            raise ParameterError(
                f"Invalid value for resampling_target: {self.resampling_target!r}. It must be one of "
                f"{_TARGETS}.",
                param="resampling_target", expected=_TARGETS, found=self.resampling_target,
            )
        if self.labels is not None and self.lut is not None:
            raise ParameterError(
                "Pass either labels or a lookup table (lut) to the masker, but not both.", param="labels",
            )
        if self.labels is not None and (
            not isinstance(self.labels, (list, tuple)) or not all(isinstance(n, str) for n in self.labels)
        ):
            raise TypeError(
                f"'labels' must be a list of str (one name per label value); got {self.labels!r}."
            )
        if not isinstance(self.keep_all_regions, bool):
            raise TypeError(f"'keep_all_regions' must be a bool; got {self.keep_all_regions!r}.")
        cov = self.min_coverage
        if cov is not None and (isinstance(cov, bool) or not isinstance(cov, (int, float, np.number)) or not 0 <= cov <= 1):
            raise ParameterError(
                f"'min_coverage' must be None or a fraction in [0, 1]; got {cov!r}.", param="min_coverage", found=cov,
            )
        if self.labels_img is None:
            raise AtlasError(
                "'labels_img' must be given (a 3D labels image or its path); found None.", param="labels_img",
            )

    # ---- fit -----------------------------------------------------------------------------
    @reported("fit")
    def fit(self, imgs=None, y=None):
        """Load the atlas, build ``lut_`` and (with ``imgs``) put atlas and mask on the data grid."""
        import nibabel as nib

        self._check_params()
        self._check_labels_params()
        if self.keep_masked_labels:
            warnings.warn(
                "'keep_masked_labels' is deprecated (nilearn 0.15 removes it); regions removed by the "
                "mask give all-zero columns.",
                FutureWarning, stacklevel=2,
            )
        bg = self.background_label
        labels_img = check_niimg(self.labels_img)
        if len(labels_img.shape) == 4 and labels_img.shape[3] == 1:
            labels_img = check_niimg(labels_img, ensure_ndim=3)
        raw = np.asanyarray(labels_img.dataobj)
        name = labels_img.get_filename() or "labels_img"
        data = check_labels_data(raw, bg, name="labels_img" if name == "labels_img" else f"labels_img ({name})")
        if data is not raw:
            labels_img = nib.Nifti1Image(data, labels_img.affine, labels_img.header)
        present = np.unique(data)
        labels = None
        if self.labels is not None:
            labels = ["Background" if n == "background" else n for n in self.labels]
        self.lut_ = build_lut(present, bg, labels=labels, lut=self.lut)
        self._native = (data, np.asarray(labels_img.affine))
        self._user_ids = None
        if self.lut is not None:
            ids = read_lut(self.lut)["index"].to_numpy()
            self._user_ids = ids[ids != bg]

        mask_img = None if self.mask_img is None else binarised_mask(self.mask_img)
        data_img = None
        if imgs is not None:
            data_img = check_niimg(imgs, atleast_4d=True)
        target = self.resampling_target
        if target is None:
            self._check_fov(labels_img, mask_img, data_img)
        ref = data_img if target == "data" else (labels_img if target == "labels" else None)
        if target == "data" and data_img is not None and not same_fov(data_img, labels_img):
            labels_img = self._resample_labels(labels_img, data_img, at="fit")
        if mask_img is not None and ref is not None and not same_fov(ref, mask_img):
            mask_img = self._resample(mask_img, ref, "nearest")
        if mask_img is not None and ref is not None:
            lab = np.asanyarray(labels_img.dataobj)
            if not np.any(lab[np.asanyarray(mask_img.dataobj) != 0] != 0):
                raise AtlasError(
                    "No label left after applying mask to the labels image: every voxel of mask_img "
                    "falls on the background.",
                    param="mask_img",
                )
        self.labels_img_ = labels_img
        self.mask_img_ = mask_img
        self._ops = {}
        self._set_region_attrs(self._lut_region_ids(), present_bg=bool(np.any(present == bg)))
        self._reporting_data = None
        return self

    @staticmethod
    def _resample(img, target, interpolation, **kw):
        from ..image import resample_img

        return resample_img(
            img, target_affine=target.affine, target_shape=target.shape[:3], interpolation=interpolation,
            copy_header=True, force_resample=True, **kw,
        )

    def _resample_labels(self, labels_img, data_img, at: str):
        import nibabel as nib

        before = np.unique(np.asanyarray(labels_img.dataobj))
        out = self._resample(labels_img, data_img, "nearest")
        after = np.unique(np.asanyarray(out.dataobj))
        if after.size <= 1:
            raise AtlasError(
                f"No label left after resampling the labels image to the data grid (shape "
                f"{tuple(data_img.shape[:3])}): the atlas of shape {tuple(labels_img.shape)} does not "
                f"overlap the data.",
                param="labels_img",
            )
        removed = np.setdiff1d(before, after)
        if removed.size:
            warnings.warn(
                f"After resampling the label image to the data image, the following labels were removed: "
                f"{set(removed.tolist())}. Label image only contains {after.size} labels (including "
                f"background).",
                NimaskDataWarning, stacklevel=3,
            )
        return nib.Nifti1Image(np.asanyarray(out.dataobj), out.affine, out.header)

    @staticmethod
    def _check_fov(labels_img, mask_img, data_img) -> None:
        problems = []
        for other, what in ((mask_img, "mask"), (data_img, "data")):
            if other is None:
                continue
            if tuple(other.shape[:3]) != tuple(labels_img.shape[:3]):
                problems.append(
                    f"- labels and {what} do not have the same shape: {tuple(labels_img.shape[:3])} vs "
                    f"{tuple(other.shape[:3])}"
                )
            elif not affines_close(other.affine, labels_img.affine):
                problems.append(f"- labels and {what} do not have the same affine")
        if problems:
            raise GeometryError(
                "Following field of view errors were detected (resampling_target=None):\n" + "\n".join(problems),
                param="resampling_target",
            )

    # ---- region attributes ---------------------------------------------------------------
    def _lut_region_ids(self) -> np.ndarray:
        index = self.lut_["index"].to_numpy()
        return index[index != self.background_label]

    def _all_region_ids(self) -> np.ndarray:
        """keep_all_regions: every label of the atlas and of the user's LUT, sorted."""
        ids = self._lut_region_ids()
        if self._user_ids is not None and self._user_ids.size:
            ids = np.union1d(ids, self._user_ids.astype(ids.dtype) if ids.dtype.kind in "iu" else self._user_ids)
        return np.sort(ids)

    def _name_of(self, ids: np.ndarray) -> list[str]:
        table = self.lut_
        names = dict(zip(table["index"].tolist(), table["name"].tolist()))
        if self.lut is not None and self.keep_all_regions:
            user = read_lut(self.lut)
            for i, n in zip(user["index"].tolist(), user["name"].tolist()):
                names.setdefault(i, n)
        return [str(names.get(i, "unknown")) for i in ids.tolist()]

    def _set_region_attrs(self, ids: np.ndarray, present_bg: bool) -> None:
        if self.keep_all_regions:
            ids = self._all_region_ids()
        bg = self.background_label
        self.labels_ = sorted(([bg] if present_bg else []) + ids.tolist())
        self.region_ids_ = ({"background": bg} if present_bg else {}) | {i: v for i, v in enumerate(ids.tolist())}
        self.region_names_ = dict(enumerate(self._name_of(ids)))
        self._n_regions = int(ids.size)
        self._region_values = ids

    @property
    def n_elements_(self) -> int:
        """Number of output columns (regions)."""
        return self._n_regions

    def get_feature_names_out(self, input_features=None):
        """The region names (one per output column), as nilearn's list."""
        self._check_fitted()
        return list(self.region_names_.values())

    # ---- transform -----------------------------------------------------------------------
    @reported("fit_transform")
    def fit_transform(self, imgs, y=None, confounds=None, sample_mask=None):
        """Fit on ``imgs`` then transform them."""
        return self.fit(imgs, y).transform(imgs, confounds=confounds, sample_mask=sample_mask)

    @reported("transform")
    def transform(self, imgs, confounds=None, sample_mask=None):
        """Region signals ``(T, n_regions)`` of a 3D/4D image (``(n_regions,)`` for 3D)."""
        self._check_fitted()
        return self.transform_single_imgs(imgs, confounds=confounds, sample_mask=sample_mask)

    def _grid(self, img):
        """(labels array, mask array or None, affine) on the extraction grid for ``img``."""
        labels_img, mask_img = self.labels_img_, self.mask_img_
        target = self.resampling_target
        if target is None:
            self._check_fov(labels_img, mask_img, img)
        elif target == "data":
            if not same_fov(img, labels_img):
                warnings.warn(
                    "Resampling labels at transform time... The data grid differs from the grid the "
                    "labels were fitted on; fit the masker on these images to avoid it.",
                    NimaskGeometryWarning, stacklevel=4,
                )
                labels_img = self._resample_labels(labels_img, img, at="transform")
            if mask_img is not None and not same_fov(img, mask_img):
                warnings.warn("Resampling mask at transform time...", NimaskGeometryWarning, stacklevel=4)
                mask_img = self._resample(mask_img, img, "nearest")
        else:
            if not same_fov(img, labels_img):
                warnings.warn(
                    "Resampling images at transform time (the data grid differs from the labels grid)...",
                    NimaskGeometryWarning, stacklevel=4,
                )
            if mask_img is not None and not same_fov(labels_img, mask_img):
                mask_img = self._resample(mask_img, labels_img, "nearest")
        labels = check_labels_data(np.asanyarray(labels_img.dataobj), self.background_label)
        mask = None if mask_img is None else np.asanyarray(mask_img.dataobj) != 0
        return labels, mask, np.asarray(labels_img.affine)

    def _operator(self, labels, mask, affine):
        key = (hashlib.blake2b(np.ascontiguousarray(labels).tobytes(), digest_size=16).hexdigest(),
               None if mask is None else hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).hexdigest(),
               labels.shape)
        cached = self._ops.get(key)
        if cached is not None:
            return cached
        from ..regions._labels import masked_atlas, warn_masked_labels

        bg = self.background_label
        masked = masked_atlas(labels, mask, bg)
        warn_masked_labels(labels, masked, bg, keep=self.keep_masked_labels or self.keep_all_regions)
        region_ids = self._all_region_ids() if self.keep_all_regions else None
        fill = np.nan if self.keep_all_regions else 0.0
        op = prepare_labels(labels, mask, background_label=bg, keep_masked_labels=self.keep_masked_labels,
                            region_ids=region_ids, fill_value=fill)
        coverage = self._coverage(op, labels, affine)
        entry = (op, masked, coverage, key)
        self._ops = {key: entry}  # keep only the latest grid
        return entry

    def _coverage(self, op, labels, affine):
        """Per region: voxels in the atlas, voxels kept on this grid, kept fraction of the volume."""
        native, native_affine = self._native
        bg = self.background_label
        ids = op.region_ids
        flat = native.ravel()
        sel = flat != bg
        uniq, counts = np.unique(flat[sel], return_counts=True)
        in_atlas = np.zeros(ids.size, dtype=np.int64)
        if uniq.size:
            pos = np.clip(np.searchsorted(uniq, ids), 0, uniq.size - 1)
            in_atlas = np.where(uniq[pos] == ids, counts[pos], 0).astype(np.int64)
        vox_native = abs(np.linalg.det(native_affine[:3, :3]))
        vox_grid = abs(np.linalg.det(np.asarray(affine)[:3, :3]))
        kept = op.counts.astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(in_atlas > 0, kept * vox_grid / np.maximum(in_atlas * vox_native, 1e-300), 0.0)
        reason = np.array([""] * ids.size, dtype=object)
        reason[in_atlas == 0] = "not in labels_img"
        reason[(in_atlas > 0) & (kept == 0)] = "no voxel left after resampling/masking"
        low = np.zeros(ids.size, dtype=bool)
        if self.min_coverage is not None:
            low = (kept > 0) & (fraction < self.min_coverage)
            for j in np.flatnonzero(low):
                reason[j] = f"coverage {fraction[j]:.3g} < min_coverage {self.min_coverage}"
        return {"in_atlas": in_atlas, "kept": kept, "fraction": fraction, "reason": reason, "low": low}

    def transform_single_imgs(self, imgs, confounds=None, sample_mask=None):
        """The per-image pipeline: load, resample, smooth, extract, clean, squeeze, cast."""
        import nibabel as nib
        import pandas as pd

        self._check_fitted()
        img, was_3d = self._load_run(imgs)
        check_header_t_r(img, self.t_r, type(self).__name__)
        src = source_dtype(img)
        labels, mask, affine = self._grid(img)
        op, masked, cov, op_key = self._operator(labels, mask, affine)
        if self.high_variance_confounds:
            confounds = self._with_high_variance(img, confounds)
        compute = lambda: self._signals(img, op, affine, cov["low"], confounds, sample_mask)  # noqa: E731
        if getattr(self, "_memory_level", 0) >= 1 and self.memory_.location is not None:
            # content-keyed (file checksums), so only built when a cache is in use
            key = ("labels-signals", fingerprint(imgs), fingerprint(confounds), _as_key(sample_mask), op_key,
                   _as_key(affine), self.strategy, self.min_coverage, self._clean_params())
            signals = self._cache(key, compute)
        else:
            signals = compute()
        # fitted-state side effects (as nilearn's private LUT after a transform)
        self.region_atlas_ = nib.Nifti1Image(masked.astype(np.int32), affine)
        present_bg = bool(np.any(masked == self.background_label))
        ids = op.region_ids
        self.labels_ = ([self.background_label] if present_bg else []) + ids.tolist()
        self.region_ids_ = ({"background": self.background_label} if present_bg else {}) | dict(enumerate(ids.tolist()))
        self.region_names_ = dict(enumerate(self._name_of(ids)))
        self._n_regions = int(ids.size)
        self._region_values = ids
        self.region_coverage_ = pd.DataFrame({
            "index": ids, "name": list(self.region_names_.values()), "voxels_in_atlas": cov["in_atlas"],
            "voxels_kept": cov["kept"], "fraction": cov["fraction"], "reason": cov["reason"],
        })
        return self._finish(signals, was_3d, src)

    def _signals(self, img, op, affine, low, confounds, sample_mask):
        from ..regions._labels_pipeline import labels_signals
        from ..signal import clean

        signals = labels_signals(img, op, strategy=self.strategy, grid_affine=affine,
                                 smoothing_fwhm=self.smoothing_fwhm)
        if low.any():
            signals[:, low] = np.nan
        finite_cols = ~np.isnan(signals).all(axis=0) if (self.keep_all_regions or low.any()) else None
        kwargs = dict(
            detrend=self.detrend, standardize=self.standardize, standardize_confounds=self.standardize_confounds,
            t_r=self.t_r, low_pass=self.low_pass, high_pass=self.high_pass, confounds=confounds,
            sample_mask=sample_mask, **self.clean_args_,
        )
        if finite_cols is None or finite_cols.all():
            return clean(signals, **kwargs)
        cleaned = clean(signals[:, finite_cols], **kwargs)
        out = np.full((cleaned.shape[0], signals.shape[1]), np.nan, dtype=cleaned.dtype)
        out[:, finite_cols] = cleaned
        return out

    def _clean_params(self) -> dict:
        names = (
            "smoothing_fwhm", "standardize", "standardize_confounds", "detrend", "low_pass", "high_pass", "t_r",
            "high_variance_confounds", "keep_all_regions",
        )
        params = {n: _as_key(getattr(self, n)) for n in names}
        params["clean_args"] = {k: fingerprint(v) for k, v in self.clean_args_.items()}
        return params

    @staticmethod
    def _with_high_variance(img, confounds):
        """The 5 high-variance confounds of the raw image (all voxels), added to the user's."""
        from ..signal import high_variance_confounds

        data = np.asanyarray(img.dataobj)
        series = data.reshape(-1, data.shape[-1]).T if data.ndim == 4 else data.reshape(1, -1)
        hv = high_variance_confounds(series)
        if confounds is None:
            return hv
        if isinstance(confounds, list):
            return [*confounds, hv]
        return [confounds, hv]

    # ---- inverse -------------------------------------------------------------------------
    def inverse_transform(self, signals):
        """Image on the ``labels_img_`` grid with each region's voxels set to its column."""
        import nibabel as nib

        self._check_fitted()
        if hasattr(signals, "to_numpy"):
            signals = np.squeeze(signals.to_numpy())
        X = np.asarray(signals)
        n = self.n_elements_
        if X.ndim not in (1, 2) or X.shape[-1] != n:
            raise ParameterError(
                f"Input to 'inverse_transform' has wrong shape: expected (n_regions,) or (T, n_regions) with "
                f"n_regions = {n}; got {X.shape}.",
                param="signals", expected=n, found=X.shape,
            )
        dtype = self._inverse_dtype(X)
        labels_img, mask_img = self.labels_img_, self.mask_img_
        if mask_img is not None and not same_fov(mask_img, labels_img):
            mask_img = self._resample(mask_img, labels_img, "nearest")
        labels = check_labels_data(np.asanyarray(labels_img.dataobj), self.background_label)
        mask = None if mask_img is None else np.asanyarray(mask_img.dataobj) != 0
        data = signals_to_labels_array(X.astype(dtype, copy=False), labels, np.asarray(self._region_values), mask,
                                       self.background_label)
        return nib.Nifti1Image(data, labels_img.affine)


def _as_key(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, hashlib.blake2b(value.tobytes(), digest_size=16).hexdigest())
    if isinstance(value, (list, tuple)):
        return [_as_key(v) for v in value]
    return value
