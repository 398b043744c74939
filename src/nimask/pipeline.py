"""The one streaming engine: decode a run once, hand every chunk of volumes to operators.

An *operator* (:class:`Operator`) turns the values of a fixed set of voxels of a fixed grid
into output columns: the voxels of a mask (:class:`nimask.regions._voxels.VoxelOperator`), the
regions of a labels atlas, a set of maps, spheres. Operators are prepared once per grid by
the ``prepare_*`` functions of :mod:`nimask.regions` and carry everything this module needs:
their grid (``shape``, ``affine``), the voxels they read (``index``) and a ``reduce``.

:func:`stream` is the only loop over a run's volumes. For each chunk of volumes it

1. decodes the chunk (the next one is decoded meanwhile in a background thread),
2. resamples it onto the operators' grid when the image is on another grid (continuous
   interpolation, clipped to the whole run's ``[min(data, 0), max(data, 0)]`` as nilearn's
   ``resample_img`` of the 4D image does),
3. smooths it (Gaussian, FWHM in mm) over the box of voxels the operators can see,
4. gathers each operator's voxels, applies the non-finite policy (NaN/inf become 0,
   counted, one :class:`~nimask.exceptions.NimaskNonFiniteWarning` per run), and
5. reduces them (``operator.reduce``) into that operator's rows of the output.

The region operators (labels, maps, spheres) reduce in float64 whatever the data dtype
(catalogue D12: float32 sums of a large mean with a small variance lose the variance);
:func:`values_dtype` gives the dtype of the values an operator is handed, from which the
region operators' ``output_dtype`` gives nilearn's dtype for the final cast (spec §1.6).

A voxel operator on a file-backed run that needs neither resampling nor smoothing is the
reader's fused decode-and-gather (:func:`nimask._nifti_io.gather_masked`): same numbers,
no intermediate chunk.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._memory import with_small_pages
from ._niimg import affines_close
from ._nonfinite import warn_nonfinite, zero_nonfinite
from ._threads import n_threads, prefetched, single_threaded_blas
from .exceptions import GeometryError
from .regions._gather import f_order_index, gather

__all__ = ["Operator", "stream", "needs_resampling", "values_dtype"]


@runtime_checkable
class Operator(Protocol):
    """What :func:`stream` needs from an operator (see :mod:`nimask.regions`).

    Attributes
    ----------
    shape : tuple of 3 int
        The grid the operator is defined on.
    affine : (4, 4) ndarray
        Its affine.
    index : ndarray of intp
        C-order flat indices (into ``shape``) of the voxels it reads, in the order
        ``reduce`` expects them.
    names : list of str
        One name per output column.
    batch_volumes : int
        Volumes gathered before one ``reduce`` call (1: every chunk is reduced at once).
    pointwise : bool
        True when each output column is one voxel's value (then clipping the resampled
        values commutes with the operator and one pass over the run is enough).
    nonfinite_where : str
        How the policy's warning names the voxels read ("inside the mask", ...).
    """

    shape: tuple
    affine: np.ndarray
    index: np.ndarray
    names: list
    batch_volumes: int
    pointwise: bool
    nonfinite_where: str

    def reduce(self, values: np.ndarray) -> np.ndarray:
        """Output rows ``(n, n_columns)`` of the gathered values ``(n, n_voxels)``."""
        ...


def needs_resampling(img: Any, shape: tuple, affine: np.ndarray) -> bool:
    """True when ``img`` is not on the grid ``(shape, affine)`` (affine tolerance 1e-4 mm)."""
    return tuple(img.shape[:3]) != tuple(shape) or not affines_close(img.affine, affine)


def values_dtype(img: Any, grid: Any, smoothing_fwhm: Any = None) -> np.dtype:
    """Dtype of the values :func:`stream` hands to the ``reduce`` of an operator on ``grid``.

    ``grid`` is anything with ``shape`` and ``affine`` (an operator, an image). The stored
    dtype (float64 for a file with a slope/intercept), then cubic resampling's dtype when
    ``img`` is not on ``grid`` (signed integers become floats), then smoothing's (integers
    become floats): the dtype nilearn's extraction sees.
    """
    from ._niimg import source_dtype

    dtype = source_dtype(img)
    if needs_resampling(img, tuple(grid.shape[:3]), np.asarray(grid.affine)):
        from .image._resampling import output_dtype

        dtype = output_dtype(dtype, "continuous")
    if smoothing_fwhm is not None:
        from .image._smoothing import _check_fwhm, _float_dtype

        if _check_fwhm(smoothing_fwhm, warn=False) is not None:
            dtype = _float_dtype(dtype)
    return np.dtype(dtype)


@with_small_pages
def stream(
    img: Any,
    operators: list,
    *,
    smoothing_fwhm: float | None = None,
    chunk_size: int | None = None,
    label: str = "extraction",
    after_chunk: Callable[[], None] | None = None,
) -> list[np.ndarray]:
    """Signals ``(T, n_columns)`` of a 3D/4D image for each operator, reading it once.

    Parameters
    ----------
    img : nibabel image (3D or 4D), file-backed or in memory
    operators : list of Operator
        All on one grid; the image is resampled onto it when needed.
    smoothing_fwhm : float or None
        Gaussian smoothing in mm, after resampling (0 or None: none).
    chunk_size : int or None
        Volumes per chunk (default: about 8 MB of stored data).
    label : str
        Names the computation in the non-finite warning (e.g. ``"NiftiMasker.transform"``).
    after_chunk : callable or None
        Called after each chunk (the batch checks there for a stop request; an exception it
        raises ends the stream).

    Returns
    -------
    list of ndarray
        One C-ordered ``(T, n_columns)`` array per operator (float dtype chosen by its
        ``reduce``).
    """
    if not operators:
        return []
    first = operators[0]
    shape, affine = tuple(first.shape), np.asarray(first.affine)
    for op in operators[1:]:
        if tuple(op.shape) != shape or not affines_close(op.affine, affine):
            raise GeometryError("stream: the operators are not on one grid.", param="operators")
    if smoothing_fwhm is not None:
        from .image._smoothing import _check_fwhm

        if _check_fwhm(smoothing_fwhm) is None:  # 0: nilearn's warning, then no smoothing
            smoothing_fwhm = None
    resample = needs_resampling(img, shape, affine)
    n_vol = img.shape[3] if len(img.shape) == 4 else 1
    where = " and ".join(dict.fromkeys(op.nonfinite_where for op in operators))
    if (
        after_chunk is None and not resample and smoothing_fwhm is None and len(operators) == 1
        and getattr(first, "mask", None) is not None and not isinstance(img.dataobj, np.ndarray)
    ):
        from ._nifti_io import gather_masked

        values = gather_masked(img, first.mask, chunk_size=chunk_size, ensure_finite=False).reshape(n_vol, -1)
        warn_nonfinite(zero_nonfinite(values), label, where, stacklevel=3)
        return [first.reduce(values)]
    streamer = _Streamer(img, operators, shape, affine, resample, smoothing_fwhm, chunk_size, n_vol)
    return streamer.run(label, where, after_chunk)


class _Streamer:
    """The chunk loop of :func:`stream` (state of one pass over one run)."""

    def __init__(self, img, operators, shape, affine, resample, fwhm, chunk_size, n_vol) -> None:
        self.img, self.ops, self.shape, self.affine = img, operators, shape, affine
        self.resample, self.chunk_size, self.n_vol = resample, chunk_size, n_vol
        self.sigmas, self.box, self.inner = None, (slice(None),) * 3, (slice(None),) * 3
        if fwhm is not None:
            from .image._smoothing import fwhm_to_sigma

            self.sigmas = fwhm_to_sigma(fwhm, affine)
            self.box, self.inner = _smoothing_box(operators, shape, self.sigmas)
        box_shape = tuple(len(range(*b.indices(n))) for b, n in zip(self.box, shape))
        starts = [b.indices(n)[0] for b, n in zip(self.box, shape)]
        self.f_index = [f_order_index(op.index, op.shape, starts, box_shape) for op in operators]
        self.bounds = None
        self.n_bad = 0
        self.outputs: list = [None] * len(operators)
        self.pending: list = [[] for _ in operators]

    def run(self, label: str, where: str, after_chunk: Callable[[], None] | None) -> list[np.ndarray]:
        from ._nifti_io import iter_volume_chunks

        pointwise = all(op.pointwise for op in self.ops)
        one_pass_clip = self.resample and pointwise and self.sigmas is None
        if self.resample and not one_pass_clip:  # clipping precedes the reduction: bounds first
            from .image._resampling import clip_bounds

            for _, chunk in iter_volume_chunks(self.img, self.chunk_size):
                self.bounds = clip_bounds(chunk, self.bounds)
        pool = None
        if self.sigmas is not None and n_threads(self.n_vol) > 1:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(n_threads(self.n_vol))
        chunks = iter_volume_chunks(self.img, self.chunk_size)
        if not isinstance(self.img.dataobj, np.ndarray):
            chunks = prefetched(chunks, depth=2)
        # the decoder thread and the operators' own threads use the cores: BLAS's threads would spin
        try:
            with single_threaded_blas():
                if pool is None:
                    for t0, chunk in chunks:
                        self._one_chunk(t0, chunk, one_pass_clip)
                        if after_chunk is not None:
                            after_chunk()
                else:
                    self._smoothed_chunks(chunks, one_pass_clip, pool, after_chunk)
                for i in range(len(self.ops)):
                    self._flush(i)
        finally:
            if pool is not None:
                pool.shutdown()
        if one_pass_clip and self.bounds is not None:
            for out in self.outputs:
                np.clip(out, out.dtype.type(self.bounds[0]), out.dtype.type(self.bounds[1]), out=out)
        warn_nonfinite(self.n_bad, label, where, stacklevel=4)
        return self.outputs

    def _smoothed_chunks(self, chunks, one_pass_clip: bool, pool, after_chunk) -> None:
        """The chunk loop with smoothing over a thread pool: the next chunks' volumes are smoothed
        while the oldest chunk waits for its last volumes and is reduced (no barrier per chunk)."""
        import collections

        in_flight: collections.deque = collections.deque()

        def reduce_oldest() -> None:
            t0, out, futures = in_flight.popleft()
            self.n_bad += sum(f.result() for f in futures)
            self._reduce_chunk(t0, out.T)  # (x, y, z, n) view, F-contiguous
            if after_chunk is not None:
                after_chunk()

        try:
            for t0, chunk in chunks:
                part = self._resampled(chunk, one_pass_clip)[self.box]
                in_flight.append((t0, *_submit_smoothing(part, self.sigmas, pool, self.inner)))
                while len(in_flight) > _SMOOTHING_LOOKAHEAD:
                    reduce_oldest()
            while in_flight:
                reduce_oldest()
        finally:  # an error: volumes not started yet are dropped (the running ones end at pool.shutdown)
            for _, _, futures in in_flight:
                for f in futures:
                    f.cancel()

    def _resampled(self, chunk: np.ndarray, one_pass_clip: bool) -> np.ndarray:
        """``chunk`` on the operators' grid (resampled and clipped when needed), 4D."""
        if self.resample:
            from .image._resampling import clip_bounds, resample_array

            if one_pass_clip:
                self.bounds = clip_bounds(chunk, self.bounds)
            clip = self.bounds if (not one_pass_clip and self.bounds is not None) else False
            chunk = resample_array(chunk, self.img.affine, self.affine, self.shape, clip=clip)
        return chunk[..., np.newaxis] if chunk.ndim == 3 else chunk

    def _one_chunk(self, t0: int, chunk: np.ndarray, one_pass_clip: bool) -> None:
        chunk = self._resampled(chunk, one_pass_clip)
        if self.sigmas is not None:  # smoothing in this thread (with a pool: _smoothed_chunks)
            smoothed, bad = _smoothed(chunk[self.box], self.sigmas, self.inner)
            self.n_bad += bad
            chunk = smoothed.T  # (x, y, z, n) view, F-contiguous
        self._reduce_chunk(t0, chunk)

    def _reduce_chunk(self, t0: int, chunk: np.ndarray) -> None:
        """Gather each operator's voxels of a ``(x, y, z, n)`` chunk on the grid and reduce them."""
        for i, op in enumerate(self.ops):
            values = gather(chunk, self.f_index[i])
            self.n_bad += zero_nonfinite(values)
            if op.batch_volumes > 1:
                self.pending[i].append((t0, values))
                if sum(v.shape[0] for _, v in self.pending[i]) >= op.batch_volumes:
                    self._flush(i)
            else:
                self._store(i, t0, op.reduce(values))

    def _flush(self, i: int) -> None:
        pending = self.pending[i]
        if not pending:
            if self.outputs[i] is None:  # nothing read (empty run): let the operator give its dtype
                probe = np.zeros((0, self.ops[i].index.size), dtype=np.float32)
                self.outputs[i] = np.asarray(self.ops[i].reduce(probe))
            return
        t0 = pending[0][0]
        values = pending[0][1] if len(pending) == 1 else np.concatenate([v for _, v in pending], axis=0)
        self.pending[i] = []
        self._store(i, t0, self.ops[i].reduce(values))

    def _store(self, i: int, t0: int, part: np.ndarray) -> None:
        out = self.outputs[i]
        if out is None:
            out = self.outputs[i] = np.empty((self.n_vol, part.shape[1]), dtype=part.dtype)
        out[t0 : t0 + part.shape[0]] = part


def _smoothing_box(operators: list, shape: tuple, sigmas) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """``(box, inner)``: the box of voxels whose smoothed values at the operators' voxels are
    exact (the bounding box of every voxel read plus the Gaussian kernel radius on each side,
    clamped to the grid, where the reflect border of the whole grid then applies unchanged),
    and that bounding box itself relative to ``box`` (where the later passes are needed)."""
    index = np.concatenate([np.asarray(op.index) for op in operators])
    if index.size == 0:
        return (slice(None),) * 3, (slice(None),) * 3
    coords = np.unravel_index(index, shape)
    lo = [int(c.min()) for c in coords]
    hi = [int(c.max()) + 1 for c in coords]
    radius = [int(4.0 * s + 0.5) + 1 for s in sigmas]  # scipy's radius (truncate=4) + 1
    box = tuple(slice(max(a - r, 0), min(b + r, n)) for a, b, r, n in zip(lo, hi, radius, shape))
    inner = tuple(slice(a - b.start, c - b.start) for a, c, b in zip(lo, hi, box))
    return box, inner


def _smoothed(part: np.ndarray, sigmas, inner=None) -> tuple[np.ndarray, int]:
    """Float copy of a ``(x, y, z, n)`` chunk laid out ``(n, z, y, x)`` (C order), non-finite
    values set to 0 (and counted), Gaussian-filtered along x, y then z (as ``smooth_array``).

    Same per-line computation as filtering the ``(x, y, z, n)`` array (bitwise equal), but
    scipy runs about twice as fast when each volume is contiguous. :func:`_submit_smoothing`
    shares the volumes among a pool's threads instead (scipy releases the GIL while filtering).
    ``inner`` (slices of x, y, z): only these voxels are read afterwards, so the y pass runs
    on the inner x range only and the z pass on the inner x and y ranges (the values there are
    the same; the others are left half-filtered).
    """
    from .image._smoothing import _float_dtype

    out = np.empty(part.shape[::-1], dtype=_float_dtype(part.dtype))
    return out, _smooth_volumes(part, sigmas, out, inner)


_SMOOTHING_LOOKAHEAD = 2  # chunks being smoothed while the oldest one is reduced


def _submit_smoothing(part: np.ndarray, sigmas, pool, inner=None) -> tuple[np.ndarray, list]:
    """``(out, futures)``: :func:`_smoothed` of ``part`` into ``out``, one task per volume on ``pool``
    (each future gives its volume's non-finite count)."""
    from .image._smoothing import _float_dtype

    out = np.empty(part.shape[::-1], dtype=_float_dtype(part.dtype))
    futures = [pool.submit(_smooth_volumes, part[..., t : t + 1], sigmas, out[t : t + 1], inner)
               for t in range(part.shape[3])]
    return out, futures


def _smooth_volumes(part: np.ndarray, sigmas, out: np.ndarray, inner=None) -> int:
    """:func:`_smoothed` of ``part`` written into ``out``; returns the non-finite count."""
    from scipy import ndimage

    out[...] = part.T
    bad = zero_nonfinite(out) if part.dtype.kind == "f" else 0  # integers are finite
    ix, iy = (slice(None), slice(None)) if inner is None else (inner[0], inner[1])
    # (n, z, y, x): x over the whole box, y over the inner x range, z over the inner x and y ranges
    views = (out, out[..., ix], out[:, :, iy, ix])
    for axis, (sigma, view) in enumerate(zip(sigmas, views)):
        if sigma > 0:
            ndimage.gaussian_filter1d(view, sigma, axis=3 - axis, output=view)
    return bad
