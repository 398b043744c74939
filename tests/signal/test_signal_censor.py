"""clean(..., censor=): "drop" is nilearn's censoring; "zero" and "interpolate" keep every volume."""
from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nilearn import signal as nsig
from scipy.interpolate import CubicSpline

from _helpers import RTOL_DEFAULT, RTOL_FLOAT32, assert_oracle
from _signal_grid import FILTERS, grid, make_data, run_both, sample_masks
from nimask import signal as msig
from nimask.exceptions import ParameterError
from nimask.signal._columns import clean_by_columns

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = ("drop", "zero", "interpolate")


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


def _kept(mask, n):
    if mask is None:
        return np.arange(n)
    mask = np.asarray(mask)
    return np.flatnonzero(mask) if mask.dtype == bool else mask


# ---- "drop": nilearn's behaviour, unchanged ---------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("filt", list(FILTERS))
def test_drop_equals_nilearn_sample_mask(dtype, filt):
    signals, confounds = make_data(dtype=dtype)
    masks = sample_masks(signals.shape[0])
    rtol = RTOL_DEFAULT if dtype == np.float64 else RTOL_FLOAT32
    checked = 0
    for combo in grid():
        if combo[4] != filt or combo[5] == "none":
            continue
        ours, theirs = run_both(partial(msig.clean, censor="drop"), nsig.clean, signals, confounds, masks, combo)
        assert ours.dtype == theirs.dtype
        assert_oracle(ours, theirs, rtol=rtol)
        checked += 1
    assert checked > 40


@pytest.mark.parametrize("filt", list(FILTERS))
def test_drop_is_the_default_bit_for_bit(filt):
    signals, confounds = make_data()
    masks = sample_masks(signals.shape[0])
    for combo in grid():
        if combo[4] != filt:
            continue
        explicit, default = run_both(partial(msig.clean, censor="drop"), msig.clean, signals, confounds, masks, combo)
        np.testing.assert_array_equal(explicit, default)


# ---- "zero": the rows of "drop", zeros elsewhere ----------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("filt", list(FILTERS))
def test_zero_keeps_every_volume_with_drop_rows_and_zeros(dtype, filt):
    signals, confounds = make_data(dtype=dtype)
    n = signals.shape[0]
    masks = sample_masks(n)
    for combo in grid():
        if combo[4] != filt:
            continue
        zero, drop = run_both(partial(msig.clean, censor="zero"), msig.clean, signals, confounds, masks, combo)
        kept = _kept(masks[combo[5]], n)
        censored = np.setdiff1d(np.arange(n), kept)
        assert zero.shape == (n, signals.shape[1]) and zero.dtype == drop.dtype
        np.testing.assert_array_equal(zero[kept], drop)  # the same numbers, not merely close
        assert (zero[censored] == 0).all()


# ---- "interpolate" ----------------------------------------------------------------------------

@pytest.mark.parametrize("filt", ["none", "cosine"])
def test_interpolate_without_butterworth_keeps_drop_rows_and_splines_the_censored(filt):
    signals, confounds = make_data()
    n = signals.shape[0]
    masks = sample_masks(n)
    for combo in grid():
        if combo[4] != filt or combo[5] == "none":
            continue
        interp, drop = run_both(partial(msig.clean, censor="interpolate"), msig.clean, signals, confounds, masks,
                                combo)
        kept = _kept(masks[combo[5]], n)
        assert interp.shape == (n, signals.shape[1])
        np.testing.assert_array_equal(interp[kept], drop)
        expected = CubicSpline(kept, drop, extrapolate=combo[6])(np.arange(n))
        if not combo[6]:  # the censored edges hold the nearest kept row
            expected[: kept[0]] = drop[0]
            expected[kept[-1] + 1:] = drop[-1]
        np.testing.assert_allclose(interp, expected, rtol=1e-12, atol=1e-12 * np.abs(drop).max())


def _reference_interpolate_butterworth(signals, confounds, keep, *, t_r, detrend, standardize, standardize_confounds,
                                       extrapolate, low_pass=None, high_pass=None):
    """The documented order of censor="interpolate" with a Butterworth filter, written plainly."""
    n = signals.shape[0]
    kept = np.flatnonzero(keep)
    idx = np.arange(n)

    def fill(a):
        a = np.array(a, dtype=np.float64)
        a[~keep] = CubicSpline(kept, a[kept])(idx[~keep])
        if not extrapolate:
            a[: kept[0]] = a[kept[0]]
            a[kept[-1] + 1:] = a[kept[-1]]
        return a

    def remove_trend(a):
        design = np.column_stack([np.ones(n), idx])
        return a - design @ np.linalg.lstsq(design, a, rcond=None)[0]

    x = fill(signals)
    c = None if confounds is None else fill(confounds)
    if detrend:
        x = remove_trend(x)
        c = None if c is None else remove_trend(c)
    x = nsig.butterworth(x, 1.0 / t_r, low_pass=low_pass, high_pass=high_pass)
    if c is not None:
        c = nsig.butterworth(c, 1.0 / t_r, low_pass=low_pass, high_pass=high_pass)
        ck = c[kept]
        if standardize_confounds:
            c = (c - ck.mean(axis=0)) / ck.std(axis=0, ddof=1)
        else:
            c = c / np.abs(ck).max(axis=0)
        x = x - c @ np.linalg.lstsq(c[kept], x[kept], rcond=None)[0]
    if standardize == "zscore_sample":
        x = (x - x[kept].mean(axis=0)) / x[kept].std(axis=0, ddof=1)
    return x


@pytest.mark.parametrize("filt", ["bw_low", "bw_high", "bw_band"])
@pytest.mark.parametrize("detrend", [True, False])
@pytest.mark.parametrize("standardize", ["zscore_sample", None])
@pytest.mark.parametrize("use_confounds, standardize_confounds", [(False, True), (True, True), (True, False)])
@pytest.mark.parametrize("extrapolate", [False, True])
def test_interpolate_with_butterworth_follows_the_documented_order(filt, detrend, standardize, use_confounds,
                                                                   standardize_confounds, extrapolate):
    signals, confounds = make_data()
    keep = sample_masks(signals.shape[0])["bool"]
    keep[-1] = False  # a censored end too
    kwargs = dict(detrend=detrend, standardize=standardize, standardize_confounds=standardize_confounds,
                  extrapolate=extrapolate, t_r=2.0, **FILTERS[filt])
    # (make_data's third confound is a pure linear trend: detrended, it is rounding noise that a rank
    # decision keeps or drops, which the plain least squares below would decide otherwise)
    conf = confounds[:, :2] if use_confounds else None
    ours = _quiet(msig.clean, signals, confounds=conf, sample_mask=keep, censor="interpolate", **kwargs)
    kwargs.pop("filter")
    expected = _reference_interpolate_butterworth(signals, conf, keep, **kwargs)
    assert_oracle(ours, expected, rtol=1e-9)


def _smooth(n):
    t = np.arange(n, dtype=np.float64)
    return np.column_stack([np.sin(2 * np.pi * t / 40), 0.5 * np.cos(2 * np.pi * t / 27) + 0.01 * t])


def test_interpolate_recovers_a_smooth_signal_behind_censored_spikes():
    n = 120
    truth = _smooth(n) + 10
    keep = np.ones(n, bool)
    keep[[20, 41, 42, 43, 70, 99]] = False  # 20 and 99 = 119 - 20: nilearn's spline fills neither
    spiked = truth.copy()
    spiked[~keep] = [[500.0, -300.0]]
    # no filter, no cleaning: the censored rows are the spline through the kept ones
    out = msig.clean(spiked, sample_mask=keep, censor="interpolate", detrend=False, standardize=None)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[keep], truth[keep])
    np.testing.assert_allclose(out[~keep], truth[~keep], atol=2e-3)
    # Butterworth: the spikes never reach the filter, so the output is that of the clean signal
    kwargs = dict(low_pass=0.08, high_pass=0.01, t_r=1.0, detrend=True, standardize=None)
    out = msig.clean(spiked, sample_mask=keep, censor="interpolate", **kwargs)
    reference = msig.clean(truth, **kwargs)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, reference, atol=5e-3 * np.abs(reference).max())
    # nilearn's censoring (drop) lets those spikes through its filter (its interpolation skips them)
    dropped = msig.clean(spiked, sample_mask=keep, **kwargs)
    assert np.abs(dropped - reference[keep]).max() > 10 * np.abs(out[keep] - reference[keep]).max()


def test_interpolate_edges_hold_or_extrapolate():
    n = 50
    truth = _smooth(n)
    keep = np.ones(n, bool)
    keep[[0, 1, 2, 48, 49]] = False
    held = msig.clean(truth, sample_mask=keep, censor="interpolate", detrend=False, standardize=None)
    np.testing.assert_array_equal(held[:3], np.repeat(truth[3:4], 3, axis=0))
    np.testing.assert_array_equal(held[48:], np.repeat(truth[47:48], 2, axis=0))
    extrapolated = msig.clean(truth, sample_mask=keep, censor="interpolate", detrend=False, standardize=None,
                              extrapolate=True)
    np.testing.assert_allclose(extrapolated[[0, 1, 2, 48, 49]], truth[[0, 1, 2, 48, 49]], atol=2e-2)
    assert np.abs(extrapolated[[0, 1, 2, 48, 49]] - held[[0, 1, 2, 48, 49]]).max() > 0.05


@pytest.mark.parametrize("n_kept", [1, 2, 3])
def test_interpolate_with_very_few_kept_volumes(n_kept):
    signals = _smooth(12)
    keep = np.zeros(12, bool)
    keep[[2, 6, 9][:n_kept]] = True
    out = _quiet(msig.clean, signals, sample_mask=keep, censor="interpolate", detrend=False, standardize=None)
    assert out.shape == signals.shape and np.isfinite(out).all()
    np.testing.assert_array_equal(out[keep], signals[keep])


# ---- properties ---------------------------------------------------------------------------------

@st.composite
def cases(draw):
    n = draw(st.integers(45, 80))
    p = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    signals = rng.standard_normal((n, p)) * 2 + rng.uniform(-20, 20, p) + np.arange(n)[:, None] * 0.05
    confounds = rng.standard_normal((n, draw(st.integers(1, 3))))
    keep = rng.random(n) > draw(st.floats(0.05, 0.4))
    keep[rng.integers(0, n, 3)] = True
    kwargs = dict(
        detrend=draw(st.booleans()), standardize=draw(st.sampled_from(["zscore_sample", "psc", None])),
        confounds=confounds if draw(st.booleans()) else None, t_r=2.0,
        **FILTERS[draw(st.sampled_from(list(FILTERS)))],
    )
    return signals, keep, kwargs


@SETTINGS
@given(cases(), st.sampled_from(MODES), st.booleans())
def test_censoring_nothing_is_no_censoring(case, mode, as_indices):
    signals, _, kwargs = case
    n = signals.shape[0]
    everything = np.arange(n) if as_indices else np.ones(n, bool)
    censored = _quiet(msig.clean, signals, sample_mask=everything, censor=mode, **kwargs)
    plain = _quiet(msig.clean, signals, **kwargs)
    np.testing.assert_array_equal(censored, plain)
    np.testing.assert_array_equal(_quiet(msig.clean, signals, censor=mode, **kwargs), plain)


@SETTINGS
@given(cases())
def test_zero_and_interpolate_keep_every_row(case):
    signals, keep, kwargs = case
    drop = _quiet(msig.clean, signals, sample_mask=keep, **kwargs)
    zero = _quiet(msig.clean, signals, sample_mask=keep, censor="zero", **kwargs)
    interp = _quiet(msig.clean, signals, sample_mask=keep, censor="interpolate", **kwargs)
    assert drop.shape == (keep.sum(), signals.shape[1])
    assert zero.shape == interp.shape == signals.shape
    np.testing.assert_array_equal(zero[keep], drop)
    assert (zero[~keep] == 0).all()
    assert np.isfinite(interp).all()
    if kwargs["filter"] != "butterworth" or (kwargs.get("low_pass") is None and kwargs.get("high_pass") is None):
        np.testing.assert_array_equal(interp[keep], drop)


@SETTINGS
@given(cases(), st.sampled_from(["zero", "interpolate"]))
def test_censored_values_never_reach_zero_or_interpolate_outputs(case, mode):
    """What the censored volumes held does not matter (with a Butterworth filter, zero keeps nilearn's rows,
    whose interpolation leaves some censored values in, so only interpolate is checked there)."""
    signals, keep, kwargs = case
    butterworth = kwargs["filter"] == "butterworth" and (kwargs.get("low_pass") or kwargs.get("high_pass"))
    if mode == "zero" and butterworth:
        return
    other = signals.copy()
    other[~keep] = 1e4
    if kwargs["confounds"] is not None:
        kwargs["confounds"] = kwargs["confounds"].copy()
    a = _quiet(msig.clean, signals, sample_mask=keep, censor=mode, **kwargs)
    if kwargs["confounds"] is not None:
        kwargs["confounds"][~keep] = -1e3
    b = _quiet(msig.clean, other, sample_mask=keep, censor=mode, **kwargs)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9 * max(1.0, np.abs(a).max()))


# ---- runs, dtypes, blocks, errors, maskers ------------------------------------------------------

@pytest.mark.parametrize("mode", ["zero", "interpolate"])
def test_runs_are_censored_each_on_its_own(mode):
    signals, confounds = make_data(n=80)
    runs = np.repeat([0, 1], 40)
    masks = [sample_masks(40, seed=1)["bool"], np.flatnonzero(sample_masks(40, seed=2)["bool"])]
    kwargs = dict(runs=runs, confounds=confounds, detrend=True, standardize="zscore_sample", filter=False)
    whole = _quiet(msig.clean, signals, sample_mask=masks, censor=mode, **kwargs)
    assert whole.shape == signals.shape
    for i, mask in enumerate(masks):
        rows = slice(40 * i, 40 * (i + 1))
        alone = _quiet(msig.clean, signals[rows], sample_mask=mask, censor=mode, confounds=confounds[rows],
                       detrend=True, standardize="zscore_sample", filter=False)
        np.testing.assert_allclose(whole[rows], alone, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("filt", ["none", "bw_band"])
def test_float32_stays_float32(mode, filt):
    signals, confounds = make_data(dtype=np.float32)
    out = _quiet(msig.clean, signals, confounds=confounds, sample_mask=sample_masks(60)["bool"], censor=mode,
                 t_r=2.0, **FILTERS[filt])
    assert out.dtype == np.float32


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("filt", ["none", "bw_band"])
def test_blocks_of_columns_give_the_same_numbers(mode, filt):
    rng = np.random.default_rng(3)
    n = 60
    signals = rng.standard_normal((n, 1200)) + 5
    keep = sample_masks(n)["bool"]
    kwargs = dict(confounds=rng.standard_normal((n, 2)), sample_mask=keep, censor=mode, t_r=2.0, **FILTERS[filt])
    once = _quiet(msig.clean, signals, **kwargs)
    blocks = _quiet(clean_by_columns, signals.copy(), n_threads=2, **kwargs)
    np.testing.assert_allclose(blocks, once, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bad", ["keep", "Drop", None, 0, True])
def test_unknown_censor_mode_is_refused(bad):
    signals, _ = make_data()
    with pytest.raises(ParameterError, match="censor must be one of"):
        msig.clean(signals, censor=bad)


def test_maskers_take_censor_through_clean_args():
    import nibabel as nib

    from nimask.maskers import NiftiLabelsMasker
    from nimask.pipeline import stream

    rng = np.random.default_rng(0)
    img = nib.Nifti1Image(rng.standard_normal((6, 6, 6, 40)).astype(np.float32) + 100, np.eye(4))
    labels = np.zeros((6, 6, 6), np.int16)
    labels[:3], labels[3:] = 1, 2
    atlas = nib.Nifti1Image(labels, np.eye(4))
    keep = np.ones(40, bool)
    keep[[3, 4, 20]] = False
    params = dict(t_r=2.0, low_pass=0.1, standardize="zscore_sample")
    drop = NiftiLabelsMasker(atlas, **params).fit_transform(img, sample_mask=keep)
    for mode in ("zero", "interpolate"):
        masker = NiftiLabelsMasker(atlas, clean_args={"censor": mode}, **params)
        out = masker.fit_transform(img, sample_mask=keep)
        assert out.shape == (40, 2)
        if mode == "zero":
            np.testing.assert_array_equal(out[keep], drop)
            assert (out[~keep] == 0).all()
        # clean_signals' censor= overrides clean_args (the batch's path: float64 region signals of the stream)
        raw = stream(img, [masker.operator_for(img)])[0]
        np.testing.assert_array_equal(masker.clean_signals(raw, img, sample_mask=keep, censor="drop"), drop)
        np.testing.assert_array_equal(masker.clean_signals(raw, img, sample_mask=keep), out)
