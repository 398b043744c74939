"""nimask's exception and warning family.

Every error raised on purpose by nimask derives from :class:`NimaskError` *and* from
the builtin exception that callers of nilearn already catch (``OSError`` for files,
``ValueError`` for bad values, ``TypeError`` for wrong dimensionality), so
``except ValueError`` written for nilearn keeps working.

Errors carry structured fields (``path``, ``param``, ``expected``, ``found``,
``index``) so that batch tools can write machine-readable failure records.
"""
from __future__ import annotations

from typing import Any

from numpy.linalg import LinAlgError

__all__ = [
    "NimaskError",
    "ImageLoadError",
    "ImageNotFoundError",
    "CorruptImageError",
    "InconsistentImageError",
    "UnsupportedImageError",
    "ImageTooLargeError",
    "DimensionError",
    "GeometryError",
    "MaskError",
    "AtlasError",
    "AtlasMissingError",
    "AtlasFileNotFoundError",
    "ConfoundsError",
    "ConfoundsNotFoundError",
    "ConfoundsColumnError",
    "ConfoundsTypeError",
    "SampleMaskError",
    "SampleMaskIndexError",
    "AllVolumesRemovedError",
    "ParameterError",
    "ParameterTypeError",
    "AffineParameterError",
    "ConnectomeError",
    "ConnectomeTypeError",
    "ConnectomeFloatingPointError",
    "CacheError",
    "OutputExistsError",
    "OutputWriteError",
    "StrictModeError",
    "BatchInterrupted",
    "NimaskWarning",
    "NimaskDataWarning",
    "NimaskNonFiniteWarning",
    "AllVolumesScrubbedWarning",
    "NimaskGeometryWarning",
    "MaskWarning",
    "NimaskCacheWarning",
    "NimaskReportWarning",
]


class NimaskError(Exception):
    """Root of every error nimask raises on purpose.

    Parameters
    ----------
    message : str
        Human-readable message: what was expected, what was found, and where.
    path, param, expected, found, index : optional
        Structured context, also available as attributes.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Any = None,
        param: str | None = None,
        expected: Any = None,
        found: Any = None,
        index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.param = param
        self.expected = expected
        self.found = found
        self.index = index

    def __reduce__(self):  # keep structured fields through pickling (joblib, dask)
        return (
            _rebuild,
            (type(self), str(self), self.path, self.param, self.expected, self.found, self.index),
        )


def _rebuild(cls, message, path, param, expected, found, index):
    return cls(message, path=path, param=param, expected=expected, found=found, index=index)


class ImageLoadError(NimaskError, OSError):
    """An image file or object could not be read."""


class ImageNotFoundError(ImageLoadError, FileNotFoundError, ValueError):
    """A path given as an image does not exist (also a ``ValueError``: nilearn raises one, with
    "File not found")."""


class CorruptImageError(ImageLoadError):
    """The file exists but its bytes are damaged (truncated, bad gzip stream, bad CRC)."""


class InconsistentImageError(CorruptImageError, ValueError):
    """Header fields disagree with each other or with the file about where the voxel bytes are,
    how many there are or how they are read (vox_offset, dim, datatype/bitpix, byte order,
    extensions, scaling, file length). Also a ``ValueError``; the message names the file and
    the two disagreeing values, ``param`` the header field."""


class UnsupportedImageError(ImageLoadError):
    """The file is readable but holds something nimask cannot use (RGB, complex, ...)."""


class ImageTooLargeError(ImageLoadError):
    """The header declares far more data than the file or the configured limit allows."""


class DimensionError(NimaskError, TypeError):
    """An image has the wrong number of dimensions (nilearn raises a ``TypeError`` too)."""

    def __init__(self, file_dimension: int, required_dimension: int, message: str | None = None, **kw):
        self.file_dimension = file_dimension
        self.required_dimension = required_dimension
        if message is None:
            message = (
                f"Input data has incompatible dimensionality: expected dimension is "
                f"{required_dimension}D and you provided a {file_dimension}D image."
            )
        kw.setdefault("expected", f"{required_dimension}D")
        kw.setdefault("found", f"{file_dimension}D")
        super().__init__(message, **kw)

    def __reduce__(self):
        return (_rebuild_dim, (type(self), self.file_dimension, self.required_dimension, str(self), self.path))


def _rebuild_dim(cls, file_dimension, required_dimension, message, path):
    return cls(file_dimension, required_dimension, message, path=path)


class GeometryError(NimaskError, ValueError):
    """Shapes or affines are incompatible, or an affine is unusable."""


class MaskError(NimaskError, ValueError):
    """A mask image is not a usable binary mask (or a computed mask is unusable)."""


class AtlasError(NimaskError, ValueError):
    """A labels / maps atlas or a set of seeds is unusable."""


class AtlasMissingError(AtlasError, TypeError):
    """No atlas was given (``labels_img`` / ``maps_img`` is None): also a ``TypeError``, as in nilearn."""


class AtlasFileNotFoundError(AtlasError, FileNotFoundError):
    """An atlas file (a ``lut`` look-up table) does not exist (also a ``FileNotFoundError``, as in nilearn)."""


class ConfoundsError(NimaskError, ValueError):
    """Confounds have the wrong length, non-finite values, or an unreadable format."""


class ConfoundsNotFoundError(ConfoundsError, FileNotFoundError):
    """A confounds file does not exist (also a ``FileNotFoundError``, as in nilearn)."""


class ConfoundsColumnError(ConfoundsError, KeyError):
    """A confounds column (or its entry in the JSON sidecar) is missing.

    Also a ``KeyError`` (nilearn's ``load_confounds`` raises one, from pandas, for some missing
    columns) besides a ``ValueError`` (which it raises for others). Its ``str`` is the message
    itself, not ``KeyError``'s quoted form.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfoundsTypeError(ConfoundsError, TypeError):
    """A confounds column that must hold numbers holds something else (also a ``TypeError``)."""


class SampleMaskError(NimaskError, ValueError):
    """A ``sample_mask`` (censoring) argument is invalid."""


class SampleMaskIndexError(SampleMaskError, IndexError):
    """A ``sample_mask`` index is out of range (nilearn raises ``IndexError`` here)."""


class AllVolumesRemovedError(SampleMaskError):
    """Censoring removed every volume."""


class ParameterError(NimaskError, ValueError):
    """A parameter has an invalid value (names the parameter, the value and what is allowed)."""


class ParameterTypeError(ParameterError, TypeError):
    """A parameter has the wrong type (also a ``TypeError``, which nilearn raises for it)."""


class AffineParameterError(ParameterError, LinAlgError):
    """``target_affine`` is not a 3x3 or 4x4 matrix (also numpy's ``LinAlgError``, which nilearn raises)."""


class ConnectomeError(NimaskError, ValueError):
    """The input of :mod:`nimask.connectome` is unusable: subjects that are not 2D arrays, different
    numbers of regions, non-finite values other than a region without signal (an all-NaN column),
    too few time points, a covariance that is not positive definite where one is needed, or
    connectivity matrices of the wrong shape. Also a ``ValueError``, as nilearn's errors."""


class ConnectomeTypeError(ConnectomeError, TypeError):
    """The time series or the confounds given to :mod:`nimask.connectome` are not an iterable
    (also a ``TypeError``, as in nilearn)."""


class ConnectomeFloatingPointError(ConnectomeError, FloatingPointError):
    """The geometric mean of the ``tangent`` kind met a NaN after a matrix logarithm (also a
    ``FloatingPointError``, as in nilearn)."""


class CacheError(NimaskError, OSError):
    """The cache location is unusable."""


class OutputExistsError(NimaskError, FileExistsError):
    """An output file already exists and was not written by a finished run of the same inputs
    (``nimask extract`` replaces it only with ``--overwrite``); ``path`` names it."""


class OutputWriteError(NimaskError, OSError):
    """An output file (a time series, the manifest, the failures file) could not be written:
    disk full, file-size limit, permissions. ``path`` names the file and ``errno`` keeps the
    operating system's error number; nothing half-written is left at ``path``."""

    def __str__(self) -> str:  # the message, not OSError's "[Errno N] strerror" once errno is set
        return str(self.args[0]) if self.args else ""


class StrictModeError(NimaskError, RuntimeError):
    """``nimask extract --strict`` (``extract_batch(strict=True)``): a run gave warnings, so it
    failed; ``found`` holds the warning messages. None of its outputs is kept or marked finished."""


class BatchInterrupted(KeyboardInterrupt):
    """A batch was stopped by SIGINT or SIGTERM (not an error: the finished runs are kept).

    Derives from ``KeyboardInterrupt`` (not from :class:`NimaskError`), so that ``except
    Exception`` does not swallow it.

    Parameters
    ----------
    signum : int
        The signal number; the command-line exit code is ``128 + signum``.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)
        self.summary = None  # the BatchSummary of the runs finished so far, set by extract_batch

    @property
    def exit_code(self) -> int:
        """``128 + signum`` (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


class NimaskWarning(UserWarning):
    """Root of nimask's warning categories."""


class NimaskDataWarning(NimaskWarning):
    """Data values were changed (zeroed, clipped, dropped); the message gives counts."""


class NimaskNonFiniteWarning(NimaskDataWarning):
    """NaN/inf data values inside a mask, region, map or sphere were set to 0 (count given).

    This is nimask's non-finite policy, the same in every masker: zero with a warning and a
    count. To refuse such data instead, turn it into an error:
    ``warnings.simplefilter("error", NimaskNonFiniteWarning)``.
    """


class AllVolumesScrubbedWarning(NimaskDataWarning, RuntimeWarning):
    """Every volume of a run is marked for removal by ``load_confounds`` (non-steady-state and
    scrubbed volumes): the sample mask is empty. Also a ``RuntimeWarning``, as nilearn's."""


class NimaskGeometryWarning(NimaskWarning):
    """Geometry oddity (affine noise, qform/sform disagreement, resampling of binary data)."""


class MaskWarning(NimaskWarning):
    """A mask is suspicious (e.g. a computed mask is empty)."""


class NimaskCacheWarning(NimaskWarning):
    """A cache entry was unreadable or failed its checksum, and was recomputed."""


class NimaskReportWarning(NimaskWarning):
    """A report shows less than usual (masker not fitted, ``reports=False``, nothing recorded)."""
