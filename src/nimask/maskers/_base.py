"""The one estimator base of the seven maskers: validate, call kernels, store fitted attributes.

A masker is a thin scikit-learn transformer over the kernels:

* ``fit`` validates the declared parameters (:mod:`._params`), builds ``memory_`` and
  ``clean_args_`` and calls the masker's ``_fit`` (which loads the atlas or mask and
  prepares the operator of the fit grid, see :mod:`nimask.regions`);
* ``transform`` loads the run, asks ``operator_for(img)`` for the operator on the run's grid
  (no side effect), streams the run through it (:func:`nimask.pipeline.stream`), cleans the
  ``(T, n)`` signals (:meth:`BaseMasker.clean_signals`), then squeezes and casts. It never
  writes to ``self``: what one image teaches (its grid's coverage, the regions a mask
  emptied there) comes back from ``operator_for(img)``.

The whole extraction of an image is cached through the one content-keyed cache
(:func:`._cache.cached_call`) when ``memory`` is set and ``memory_level >= 1``.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import InputTags

from .._memory import with_small_pages
from .._niimg import check_header_t_r
from .._read_ahead import read_ahead
from .._warnings import find_stack_level
from ..reporting import _nilearn_state as _report_state
from ..reporting._record import reported
from ._cache import as_key, cached_call, fingerprint
from ._inputs import check_filter_length, high_variance_of, load_run, source_dtype
from ._inverse import inverse_image, inverse_input
from ._params import COMMON_CONSTRAINTS, make_memory, validate_params
from ._verbose import describe, say

__all__ = ["BaseMasker"]

NILEARN_VERSION = "0.14.1"  # the nilearn release whose maskers nimask reproduces

@dataclass
class ImageInputTags(InputTags):
    """scikit-learn's input tags plus the image kinds a masker takes (NIfTI images, not surfaces)."""

    niimg_like: bool = True
    surf_img: bool = False


# --------------------------------------------------------------------------------- the base
class BaseMasker(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Parameters, fit/transform flow, cache, dtype/shape rules and scikit-learn surface.

    A masker subclass declares ``_parameter_constraints``, ``_fitted_attrs`` and
    implements ``_fit(imgs)`` (store the fitted attributes, prepare the fit grid's
    operator in ``_operator``) and ``operator_for(img)``.
    """

    _parameter_constraints: ClassVar[dict] = COMMON_CONSTRAINTS
    _fitted_attrs: ClassVar[tuple] = ()
    _hv_first: ClassVar[bool] = False  # the high-variance confounds go before the user's (NiftiMasker)
    _load_dtype_param: ClassVar[bool] = False  # ``dtype`` also applies when loading (spheres)
    # decode the run in the background while fitting / preparing the operator (``_read_ahead``):
    # for maskers whose transform reads the run through ``iter_volume_chunks``
    _read_ahead: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "inverse_transform" in cls.__dict__:  # its image is allocated without huge pages (``_memory``)
            cls.inverse_transform = with_small_pages(cls.__dict__["inverse_transform"])

    # ---- fit -----------------------------------------------------------------------------
    @with_small_pages
    @reported("fit")
    def fit(self, imgs: Any = None, y: Any = None) -> BaseMasker:
        """Validate the parameters, load the atlas / mask and prepare its operator."""
        self._validate()
        self._fit_saying(imgs, warn_given_mask=True)
        return self

    @with_small_pages
    @reported("fit_transform")
    def fit_transform(self, imgs: Any, y: Any = None, confounds: Any = None, sample_mask: Any = None) -> Any:
        """Fit on ``imgs`` then transform them."""
        self._validate()
        with read_ahead(imgs if self._read_ahead else None):  # the fit needs the run's header only
            self._fit_saying(imgs, warn_given_mask=False)
            return self.transform(imgs, confounds=confounds, sample_mask=sample_mask)

    def _fit_saying(self, imgs: Any, warn_given_mask: bool) -> None:
        """``_fit`` between its progress messages (``verbose``)."""
        t0 = time.perf_counter()
        if imgs is not None:
            say(self, "fit", f"Loading data from {describe(imgs)}")
        self._fit(imgs, warn_given_mask)
        n = self.n_elements_
        say(self, "fit", "Finished fit", detail=f"{n} output column{'s' if n != 1 else ''}, "
                                               f"{time.perf_counter() - t0:.2f} s")

    def _validate(self) -> None:
        validate_params(self, self._parameter_constraints)
        if self.t_r is not None:  # Difference from nilearn: t_r=-2 or 2000 (ms) refused even without a filter
            from ..signal import check_t_r

            check_t_r(self.t_r, purpose=f"{type(self).__name__}(t_r=...)")
        self.clean_args_ = {} if self.clean_args is None else dict(self.clean_args)
        self.memory_, self._memory_level = make_memory(self.memory, self.memory_level)

    def _fit(self, imgs: Any, warn_given_mask: bool) -> None:  # pragma: no cover - every masker defines it
        raise NotImplementedError

    # ---- transform -----------------------------------------------------------------------
    @with_small_pages
    @reported("transform")
    def transform(self, imgs: Any, confounds: Any = None, sample_mask: Any = None) -> Any:
        """Signals ``(T, n_elements_)`` of a 4D image (``(n_elements_,)`` for a 3D image)."""
        self._check_fitted()
        self._warn_bool_standardize()
        return self.transform_single_imgs(imgs, confounds=confounds, sample_mask=sample_mask)

    def transform_single_imgs(self, imgs: Any, confounds: Any = None, sample_mask: Any = None,
                              copy: bool = True) -> np.ndarray:
        """The per-image pipeline: load, stream through the operator, clean, squeeze, cast."""
        self._check_fitted()
        return self._transform_one(imgs, confounds, sample_mask)

    def _transform_one(self, imgs: Any, confounds: Any, sample_mask: Any, cast: bool = True,
                       say_at: int = 1) -> np.ndarray:
        """Signals of one image; its progress messages need ``verbose >= say_at``."""
        with read_ahead(imgs if self._read_ahead else None):  # decoding overlaps preparing the operator
            return self._transform_read(imgs, confounds, sample_mask, cast, say_at)

    def _transform_read(self, imgs: Any, confounds: Any, sample_mask: Any, cast: bool, say_at: int) -> np.ndarray:
        img, was_3d = load_run(imgs, dtype=self.dtype if self._load_dtype_param else None)
        say(self, "transform", f"Loading data from {describe(imgs)}", say_at)
        check_header_t_r(img, self.t_r, type(self).__name__)
        check_filter_length(self, img, was_3d, describe(imgs))
        src = source_dtype(img)
        op = self.operator_for(img)
        if self.high_variance_confounds:
            confounds = self._with_high_variance(img, confounds)
        key = lambda: ("signals", type(self).__name__, fingerprint(imgs), fingerprint(confounds),  # noqa: E731
                       as_key(sample_mask), self._state_key(), as_key(np.asarray(img.affine)))
        signals = self._cache(key, lambda: self._extract_clean(img, op, confounds, sample_mask, say_at))
        return self._finish(signals, was_3d, src if cast else None, self._pipeline_dtype(img, op))

    def _extract_clean(self, img: Any, op: Any, confounds: Any, sample_mask: Any, say_at: int) -> np.ndarray:
        t0 = time.perf_counter()
        say(self, "transform", "Extracting region signals", say_at)
        raw = self.extract(img, op)
        say(self, "transform", f"Extracted {raw.shape[0]} volumes x {raw.shape[1]} columns in "
                               f"{time.perf_counter() - t0:.2f} s", say_at + 1)
        if self._nothing_to_clean(confounds, sample_mask):
            say(self, "transform", "Cleaning extracted signals: nothing to do (no confounds, censoring, "
                                   "detrending, filtering or scaling)", say_at)
        else:
            say(self, "transform", "Cleaning extracted signals", say_at)
        return self._cleaned(raw, confounds, sample_mask)

    def operator_for(self, img: Any) -> Any:  # pragma: no cover - every masker defines it
        """The operator of this fitted masker on the grid of ``img`` (no side effect)."""
        raise NotImplementedError

    def extract(self, img: Any, op: Any) -> np.ndarray:
        """Raw signals ``(T, n)`` of ``img`` through ``op`` (resampled and smoothed as set)."""
        from ..pipeline import stream

        return stream(img, [op], smoothing_fwhm=self.smoothing_fwhm, label=f"{type(self).__name__}.transform")[0]

    def clean_signals(self, signals: np.ndarray, img: Any, confounds: Any = None,
                      sample_mask: Any = None, censor: str | None = None) -> np.ndarray:
        """What ``transform`` returns for raw ``signals`` of the 4D image ``img``: cleaned, cast.

        ``signals`` is not modified. nimask extension, used by :mod:`nimask.batch` to clean one
        extraction with several strategies; ``censor`` overrides ``clean_args["censor"]``.
        """
        self._check_fitted()
        if self.high_variance_confounds:
            confounds = self._with_high_variance(img, confounds)
        pipeline = self._pipeline_dtype(img)  # region signals are cleaned in float64 (catalogue D12)
        owned = np.array(signals, order="K", dtype=None if pipeline is None else np.float64)
        return self._finish(self._cleaned(owned, confounds, sample_mask, censor), False, source_dtype(img), pipeline)

    def _cleaned(self, signals: np.ndarray, confounds: Any, sample_mask: Any, censor: Any = None) -> np.ndarray:
        """``signal.clean`` of owned ``signals`` with this masker's parameters (all-NaN columns left out)."""
        from ..signal._columns import clean_by_columns

        if self._nothing_to_clean(confounds, sample_mask):
            return signals if signals.dtype.kind == "f" else signals.astype(np.float64)
        kwargs = dict(
            runs=getattr(self, "runs", None), detrend=self.detrend, standardize=self.standardize, t_r=self.t_r,
            standardize_confounds=self.standardize_confounds, low_pass=self.low_pass, high_pass=self.high_pass,
            confounds=confounds, sample_mask=sample_mask, **(self.clean_args_ | ({"censor": censor} if censor else {})),
        )
        finite = None  # a column is all-NaN (an empty region) only if its first value is NaN
        if signals.shape[0] and signals.dtype.kind == "f" and np.isnan(signals[0]).any():
            finite = ~np.isnan(signals).all(axis=0)
        if finite is None or finite.all():
            return clean_by_columns(signals, _owned=True, **kwargs)
        cleaned = clean_by_columns(np.ascontiguousarray(signals[:, finite]), _owned=True, **kwargs)
        out = np.full((cleaned.shape[0], signals.shape[1]), np.nan, dtype=cleaned.dtype)
        out[:, finite] = cleaned
        return out

    def _nothing_to_clean(self, confounds: Any, sample_mask: Any) -> bool:
        return False

    def _with_high_variance(self, img: Any, confounds: Any) -> Any:
        hv = high_variance_of(img)
        if confounds is None:
            return hv
        user = list(confounds) if isinstance(confounds, list) else [confounds]
        return [hv, *user] if self._hv_first else [*user, hv]

    def _state_key(self) -> dict:
        """Content key of everything a transform depends on besides its inputs (cache key)."""
        params = {k: as_key(v) for k, v in self.get_params(deep=False).items() if k not in ("memory", "verbose",
                                                                                             "reports", "n_jobs")}
        params.update({a: fingerprint(getattr(self, a, None)) for a in self._fitted_attrs})
        return params

    def _cache(self, key: Any, compute: Callable[[], Any], level: int = 1) -> Any:
        """Run ``compute`` through ``memory_`` when the effective memory level allows it; ``key`` may be a
        callable returning the key, then only built (file checksums read) when a cache location is in use."""
        if getattr(self, "_memory_level", 0) >= level and getattr(self.memory_, "location", None) is not None:
            return cached_call(self.memory_, key() if callable(key) else key, compute)
        return compute()

    def _warn_bool_standardize(self) -> None:
        if isinstance(self.standardize, bool):
            warnings.warn(
                "boolean values for 'standardize' will be deprecated in nilearn 0.15.0. Use "
                "'zscore_sample' instead of 'True' or use 'None' instead of 'False'.",
                FutureWarning, stacklevel=find_stack_level(),
            )

    # ---- outputs -------------------------------------------------------------------------
    def _output_dtype(self, src_dtype: Any) -> np.dtype | None:
        if self.dtype is None:
            return None
        if isinstance(self.dtype, str) and self.dtype == "auto":
            return np.dtype(np.int32) if np.dtype(src_dtype).kind == "i" else np.dtype(np.float32)
        return np.dtype(self.dtype)

    def _pipeline_dtype(self, img: Any, op: Any = None) -> np.dtype | None:  # None: as computed (voxels)
        return None  # region maskers: nilearn's dtype (spec §1.6) of values computed in float64

    def _finish(self, signals: np.ndarray, was_3d: bool, src_dtype: Any, pipeline: Any = None) -> np.ndarray:
        """Squeeze for a 3D input (only while set_output was never configured), then cast to ``dtype``, or
        else to nilearn's ``pipeline`` dtype (catalogue D12). ``src_dtype`` None: ``dtype`` ignored (Multi list)."""
        if was_3d and getattr(self, "_sklearn_output_config", {}).get("transform") is None:
            signals = np.squeeze(signals)
        target = pipeline if src_dtype is None or self.dtype is None else self._output_dtype(src_dtype)
        if target is not None and signals.dtype != target:
            signals = signals.astype(target)
        return signals

    def _inverse_input(self, X: Any, name: str) -> tuple[np.ndarray, np.dtype]:
        """``X`` as an array of ``(n_elements_,)`` or ``(T, n_elements_)``, and the image dtype."""
        return inverse_input(self, X, name)

    _inverse_image = staticmethod(inverse_image)

    # ---- sklearn surface -----------------------------------------------------------------
    @property
    def _n_features_out(self) -> int:
        return self.n_elements_

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``<lowercase class name><i>`` for each output column (nilearn's names)."""
        self._check_fitted()
        return super().get_feature_names_out(input_features)

    def __sklearn_is_fitted__(self) -> bool:
        return all(hasattr(self, attr) for attr in self._fitted_attrs)

    def _check_fitted(self) -> None:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags, with the image input kinds and ``estimator_type="masker"`` that
        nilearn's estimator checks read (the same tags as nilearn's maskers)."""
        tags = super().__sklearn_tags__()
        tags.input_tags = ImageInputTags()
        tags.estimator_type = "masker"
        tags.requires_fit = True
        return tags

    def _more_tags(self) -> Any:
        """The same tags through scikit-learn's older hook (< 1.6), which nilearn's tools still call."""
        return self.__sklearn_tags__()

    # ---- documentation link of scikit-learn's HTML repr ------------------------------------
    # nimask's maskers take nilearn's parameters and give nilearn's results, so the "?" link of
    # the estimator's HTML repr (notebooks, reports) opens nilearn's page of the same class,
    # for the nilearn version nimask reproduces. nimask's own differences are in the class
    # docstrings (``help(NiftiMasker)``).
    _doc_link_module = "nimask"
    _doc_link_template = "https://nilearn.github.io/{version}/modules/generated/{estimator_module}.{estimator_name}.html"

    def _doc_link_url_param_generator(self) -> dict:
        return {"version": NILEARN_VERSION, "estimator_module": "nilearn.maskers",
                "estimator_name": type(self).__name__}

    # ---- report --------------------------------------------------------------------------
    def generate_report(self, engine: str = "matplotlib", title: str | None = None, **kwargs: Any) -> Any:
        """An HTML report of the masker (see :func:`nimask.reporting.masker_report`).

        Needs matplotlib (``nimask[plotting]``). Returns a :class:`nimask.reporting.Report`
        (``save_as_html``, ``open_in_browser``, ``get_iframe``, ``resize``; shown in
        notebooks). A masker not fitted yet, or with ``reports=False``, gives a shorter page
        and a :class:`~nimask.exceptions.NimaskReportWarning` saying why.

        Parameters
        ----------
        engine : str, default="matplotlib"
            As nilearn's; nimask's report always draws with matplotlib (another value warns).
        title : str or None, default=None
            Title of the page (default: the class name and "report").
        **kwargs
            ``displayed_maps`` / ``displayed_spheres`` (nilearn's selection of what to draw)
            are accepted; nimask's report shows every map and sphere (a value selecting
            fewer warns). Any other keyword is a TypeError.
        """
        from ..reporting._masker_report import masker_report, option_notes

        report = masker_report(self, title=title, notes=option_notes(self, engine, kwargs))
        _report_state.remember_report(self, report.title, report.notes)  # outside the masker: it is unchanged
        return report

    # nilearn's private report state, read from nimask's record (reporting/_nilearn_state.py)
    _report_content = property(lambda self: _report_state.report_content(self))
    _report_warnings = property(lambda self: _report_state.report_warnings(self))

    def _has_report_data(self) -> bool:
        return _report_state.has_report_data(self)
