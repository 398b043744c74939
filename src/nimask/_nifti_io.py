"""Reading NIfTI files: validated, with a fast gzip decoder, whole or in chunks of volumes.

A NIfTI file stores its voxels contiguously after ``vox_offset`` in Fortran order, so the
volumes of a 4D run follow one another in the (decompressed) byte stream. This module
reads that stream sequentially:

* :func:`load_file` parses and validates the header (size against the file, magic, dtype,
  geometry) and returns an ordinary lazy nibabel image (``Nifti1Image`` / ``Nifti2Image``);
  for ``.nii.gz`` its array proxy decompresses with ``isal`` (zlib if isal is missing),
  checks the CRC, and reads only the volumes asked for.
* :func:`iter_volume_chunks` yields ``(t0, chunk)`` blocks of volumes without ever
  materialising the whole 4D array.
* :func:`gather_masked` builds the ``(T, n_voxels)`` matrix of ``apply_mask`` straight from
  the decompressed bytes; peak memory stays near the output matrix.

Values follow nibabel: with a scale slope/intercept the data are ``raw * slope + inter``
in float64; otherwise the stored dtype.
"""
from __future__ import annotations

import io
import logging
import os
import stat
import struct
import warnings
from collections.abc import Iterator
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.arrayproxy import ArrayProxy
from nibabel.volumeutils import apply_read_scaling

from ._nonfinite import zero_nonfinite
from ._threads import prefetched
from .exceptions import (
    CorruptImageError,
    DimensionError,
    GeometryError,
    ImageLoadError,
    ImageNotFoundError,
    ImageTooLargeError,
    NimaskDataWarning,
    ParameterError,
    UnsupportedImageError,
)

try:  # isal's decoder is 2-5x faster than zlib and has the same decompressobj API
    from isal import isal_zlib as _zlib

    _ZLIB_ERRORS: tuple[type[BaseException], ...] = (_zlib.error, _zlib.IsalError)
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    import zlib as _zlib

    _ZLIB_ERRORS = (_zlib.error,)

__all__ = ["load_file", "load_data", "iter_volume_chunks", "gather_masked", "is_gzip_file"]

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 31  # 16 + 15: gzip wrapper, header and CRC32/ISIZE trailer checked
_MAX_DEFLATE_RATIO = 1032  # deflate cannot expand by more than ~1032:1
_READ_BLOCK = 1 << 20  # compressed bytes read from disk at a time
_DEFAULT_CHUNK_BYTES = 8 << 20  # raw bytes per chunk of volumes when chunk_size is None
_MAX_HEADER_BYTES = 64 << 20  # cap on header + extensions read before the data
_NIFTI1_MAGICS = (b"n+1\x00", b"ni1\x00")
_NIFTI2_MAGICS = (b"n+2\x00", b"ni2\x00")


# --------------------------------------------------------------------------------------
# Byte streams
# --------------------------------------------------------------------------------------
def _decompressobj():
    return _zlib.decompressobj(wbits=_GZIP_WBITS)


def _snapshot(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class _ByteStream:
    """Sequential reader of a file's (decompressed) bytes, with errors naming the file."""

    def __init__(self, path: str, compressed: bool, expect: tuple | None = None) -> None:
        self.path = path
        self.compressed = compressed
        self.pos = 0  # position in the decompressed stream
        self._fh = open(path, "rb")
        self._snapshot = _snapshot(os.fstat(self._fh.fileno()))
        if expect is not None and self._snapshot != expect:
            self._fh.close()
            raise CorruptImageError(
                f"Input file {path!r} changed after its header was read (size, modification time "
                f"or inode differ): load it again to read the new content with its own header.",
                path=path, expected=expect, found=self._snapshot,
            )
        self._dec = _decompressobj() if compressed else None
        self._tail = b""  # compressed input not yet consumed
        self._eof = False

    def close(self) -> None:
        self._fh.close()

    def check_unchanged(self) -> None:
        """Raise if the file was replaced or rewritten since it was opened (concurrent writer)."""
        try:
            now = _snapshot(os.stat(self.path))
        except OSError:
            now = None
        if now != self._snapshot:
            raise CorruptImageError(
                f"Input file {self.path!r} changed during the read (size, modification time or "
                f"inode differ from when it was opened): another process is writing it. Read it "
                f"again once the writer has finished.",
                path=self.path, expected=self._snapshot, found=now,
            )

    def __enter__(self) -> _ByteStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def readinto(self, buf: memoryview) -> int:
        """Fill ``buf`` completely unless the stream ends first; return the byte count."""
        n = self._readinto_gz(buf) if self.compressed else self._readinto_raw(buf)
        self.pos += n
        return n

    def _readinto_raw(self, buf: memoryview) -> int:
        got = 0
        while got < len(buf):
            k = self._fh.readinto(buf[got:])
            if not k:
                break
            got += k
        return got

    def _readinto_gz(self, buf: memoryview) -> int:
        got, want = 0, len(buf)
        while got < want and not self._eof:
            try:
                out = self._dec.decompress(self._tail, want - got)
            except _ZLIB_ERRORS as exc:
                raise CorruptImageError(
                    f"Corrupt gzip data in {self.path!r} after {self.pos + got} decompressed bytes "
                    f"({exc}): the deflate stream or its CRC32 checksum is damaged.",
                    path=self.path,
                ) from exc
            self._tail = self._dec.unconsumed_tail
            if out:
                buf[got : got + len(out)] = out
                got += len(out)
                continue
            if self._dec.eof:
                self._next_member()
                continue
            if not self._tail:
                self._tail = self._fh.read(_READ_BLOCK)
                if not self._tail:
                    raise CorruptImageError(
                        f"gzip stream truncated in {self.path!r}: the compressed file ended after "
                        f"{self.pos + got} decompressed bytes, before the end-of-stream marker.",
                        path=self.path,
                        found=self.pos + got,
                    )
        return got

    def _next_member(self) -> None:
        """At the end of a gzip member: continue with a following member, else stop."""
        rest = self._dec.unused_data + self._fh.read(2 - min(2, len(self._dec.unused_data)))
        if rest[:2] == _GZIP_MAGIC:
            self._dec = _decompressobj()
            self._tail = rest
            return
        self._eof = True
        trailing = rest + self._fh.read()
        if trailing.strip(b"\x00"):
            warnings.warn(
                f"{len(trailing)} bytes of trailing data after the gzip stream of {self.path!r} "
                f"were ignored (a concatenated or damaged file?).",
                NimaskDataWarning,
                stacklevel=4,
            )

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        got = self.readinto(memoryview(buf))
        return bytes(buf[:got])

    def skip(self, n: int) -> int:
        if not self.compressed:
            self._fh.seek(n, os.SEEK_CUR)
            self.pos += n
            return n
        buf = memoryview(bytearray(min(n, 4 << 20)))
        done = 0
        while done < n:
            k = self.readinto(buf[: min(len(buf), n - done)])
            done += k
            if k == 0:
                break
        return done

    def verify_end(self) -> None:
        """Decompress to the end of the gzip stream so that its CRC32 gets checked."""
        if not self.compressed:
            return
        buf = memoryview(bytearray(1 << 20))
        while not self._eof:
            self._readinto_gz(buf)


# --------------------------------------------------------------------------------------
# File checks and header parsing
# --------------------------------------------------------------------------------------
def _check_regular_file(path: str) -> os.stat_result:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageNotFoundError(f"File not found: {path!r}", path=path) from None
    except OSError as exc:
        raise ImageLoadError(f"Cannot access image file {path!r}: {exc}", path=path) from exc
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise ImageLoadError(
            f"Image path {path!r} is {kind}; expected a .nii or .nii.gz file.", path=path
        )
    if st.st_size == 0:
        raise CorruptImageError(f"Empty file: {path!r} has 0 bytes.", path=path, found=0)
    return st


def is_gzip_file(path: str) -> bool:
    """True when the file starts with the gzip magic bytes."""
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _sniff(path: str) -> bool:
    """Return whether ``path`` is gzip-compressed, checking it agrees with the file name."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    compressed = head[:2] == _GZIP_MAGIC
    named_gz = path.lower().endswith(".gz")
    if named_gz and not compressed:
        raise CorruptImageError(
            f"{path!r} is named .gz but is not a gzip file (first bytes: {head[:8].hex(' ')}); "
            f"rename it to .nii if it is an uncompressed NIfTI file.",
            path=path,
        )
    if compressed and not named_gz:
        raise CorruptImageError(
            f"{path!r} is gzip-compressed but named .nii; rename it to .nii.gz.", path=path
        )
    return compressed


def _header_class(prefix: bytes, path: str):
    if len(prefix) >= 348 and prefix[344:348] in _NIFTI1_MAGICS:
        return nib.Nifti1Image, 348
    if len(prefix) >= 540 and prefix[4:8] in _NIFTI2_MAGICS:
        return nib.Nifti2Image, 540
    if len(prefix) < 348:
        raise CorruptImageError(
            f"File {path!r} is too short for a NIfTI header: {len(prefix)} bytes, "
            f"a NIfTI-1 header needs 348.",
            path=path,
            expected=348,
            found=len(prefix),
        )
    raise CorruptImageError(
        f"NIfTI magic 'n+1'/'n+2' not found in {path!r} (first bytes: {prefix[:8].hex(' ')}); "
        f"not a NIfTI file.",
        path=path,
    )


def _check_dims(prefix: bytes, klass, path: str) -> None:
    """Check ``dim`` before nibabel guesses the byte order from it."""
    if klass is nib.Nifti1Image:
        fmt, off = "h", 40
    else:
        fmt, off = "q", 16
    size = struct.calcsize(fmt)
    for endian in "<>":
        dims = struct.unpack(endian + fmt * 8, prefix[off : off + 8 * size])
        if 1 <= dims[0] <= 7:
            break
    else:
        dim0 = struct.unpack("<" + fmt, prefix[off : off + size])[0]
        raise CorruptImageError(
            f"Invalid header in {path!r}: dim[0]={dim0} (number of dimensions) must be 1..7.",
            path=path,
            found=dim0,
        )
    for i in range(1, dims[0] + 1):
        if dims[i] < 0:
            raise CorruptImageError(
                f"Invalid header in {path!r}: dim[{i}]={dims[i]} is negative.", path=path, found=dims[i]
            )


def _parse_header(stream: _ByteStream, path: str):
    prefix = stream.read(540)
    klass, sizeof_hdr = _header_class(prefix, path)
    _check_dims(prefix, klass, path)
    try:
        head = klass.header_class(prefix[:sizeof_hdr], check=False)
        vox_offset = int(head.get_data_offset())
    except Exception as exc:
        raise CorruptImageError(f"Unreadable NIfTI header in {path!r}: {exc}", path=path) from exc
    if prefix[344:348] == b"ni1\x00" or prefix[4:8] == b"ni2\x00":
        warnings.warn(
            f"{path!r} has the magic of a .hdr/.img pair inside a single file; read as a single file.",
            NimaskDataWarning,
            stacklevel=3,
        )
    # header + extensions span [0, vox_offset); read them so nibabel keeps the extensions
    ext_end = min(max(vox_offset, len(prefix)), _MAX_HEADER_BYTES)
    prefix += stream.read(ext_end - len(prefix))
    try:
        header = klass.header_class.from_fileobj(io.BytesIO(prefix), check=False)
        fixes = _check_fix(header)
        _check_scaling(header, path)
        header.get_slope_inter()  # raises for a valid slope with an invalid intercept
        dtype = header.get_data_dtype()
        shape = header.get_data_shape()
    except Exception as exc:
        raise UnsupportedImageError(f"Unsupported or invalid NIfTI header in {path!r}: {exc}", path=path) from exc
    raw_offset = float(header["vox_offset"])
    if not np.isfinite(raw_offset) or raw_offset != int(raw_offset) or raw_offset < 0:
        raise CorruptImageError(
            f"Invalid header in {path!r}: vox_offset={raw_offset!r} must be a non-negative whole "
            f"number of bytes.",
            path=path, param="vox_offset", found=raw_offset,
        )
    if fixes:  # nibabel only logs these (invisible in most pipelines)
        warnings.warn(
            f"Header of {path!r} has {len(fixes)} invalid field(s), read as nibabel fixes them: "
            + "; ".join(fixes) + ".",
            NimaskDataWarning, stacklevel=3,
        )
    _check_forms(header, path)
    if dtype.fields is not None or dtype.kind not in "biuf":
        what = "RGB/RGBA" if dtype.fields is not None else f"{dtype} ({dtype.kind!r} kind)"
        raise UnsupportedImageError(
            f"{path!r} holds {what} data; only real scalar data (integers, floats) are supported.",
            path=path,
            found=str(dtype),
        )
    return klass, header, shape, dtype, vox_offset


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())


class _DropAll(logging.Filter):
    def filter(self, record) -> bool:
        return False


def _nibabel_log_silenced():
    """Context: nibabel's header-fix log records dropped (they repeat a warning already given)."""
    import contextlib

    @contextlib.contextmanager
    def silenced():
        logger = logging.getLogger("nibabel.global")
        drop = _DropAll()
        logger.addFilter(drop)
        try:
            yield
        finally:
            logger.removeFilter(drop)

    return silenced()


def _check_fix(header) -> list[str]:
    """nibabel's header checks and fixes, with the messages returned instead of logged."""
    logger = logging.Logger("nimask.header")  # not registered: nothing reaches the root logger
    handler = _Collect()
    logger.addHandler(handler)
    header.check_fix(logger=logger)
    return handler.messages


def _check_scaling(header, path: str) -> None:
    """Warn about a non-finite scl_slope (ignored, as the NIfTI standard says for 0 and NaN)."""
    if "scl_slope" not in header:
        return
    slope = float(header["scl_slope"])
    if np.isinf(slope):
        warnings.warn(
            f"Header of {path!r} has an invalid scl_slope={slope}; it is ignored (no scaling).",
            NimaskDataWarning, stacklevel=4,
        )


_FORM_TOL = 1e-3  # mm: qform and sform that differ by more than this are reported


def _check_forms(header, path: str) -> None:
    """Warn when both the qform and the sform are set and describe different grids."""
    try:
        if int(header["qform_code"]) <= 0 or int(header["sform_code"]) <= 0:
            return
        qform, sform = header.get_qform(), header.get_sform()
    except Exception:  # an undecodable qform: the sform (used) is checked by _check_affine
        return
    if not (np.all(np.isfinite(qform)) and np.all(np.isfinite(sform))):
        return
    # largest displacement of a corner of the field of view between the two forms
    shape = np.asarray(header.get_data_shape()[:3], dtype=np.float64)
    corners = np.array(np.meshgrid(*[[0.0, max(s - 1, 0)] for s in shape], indexing="ij")).reshape(3, -1)
    corners = np.vstack([corners, np.ones(corners.shape[1])])
    shift = float(np.max(np.linalg.norm((qform - sform)[:3] @ corners, axis=0)))
    if shift > _FORM_TOL:
        from .exceptions import NimaskGeometryWarning

        warnings.warn(
            f"qform and sform of {path!r} disagree: voxels are up to {shift:.3g} mm apart between "
            f"them; the sform is used (NIfTI standard).",
            NimaskGeometryWarning, stacklevel=4,
        )


def _check_affine(header, path: str):
    try:
        affine = header.get_best_affine()
    except Exception as exc:
        raise GeometryError(f"Unusable affine in {path!r}: {exc}", path=path) from exc
    form = "sform" if header["sform_code"] > 0 else ("qform" if header["qform_code"] > 0 else "pixdim")
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) <= np.finfo(np.float64).eps:
        raise GeometryError(
            f"Unusable {form} affine in {path!r}: it must be finite and invertible, got\n{affine}",
            path=path,
            found=affine.tolist(),
        )
    return affine


def _check_size(path: str, compressed: bool, file_size: int, vox_offset: int, shape, dtype) -> int:
    nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    needed = vox_offset + nbytes
    if needed > _MAX_DEFLATE_RATIO * file_size + (1 << 16):
        raise ImageTooLargeError(
            f"Header of {path!r} declares shape {tuple(shape)} of {dtype} at vox_offset {vox_offset} "
            f"({needed} bytes), far more than a {file_size}-byte file can hold; the header is corrupt.",
            path=path,
            expected=needed,
            found=file_size,
        )
    if not compressed and needed > file_size:
        raise CorruptImageError(
            f"Truncated image {path!r}: expected {needed} bytes (vox_offset {vox_offset} + {nbytes} "
            f"data bytes for shape {tuple(shape)} {dtype}), the file has {file_size} bytes.",
            path=path,
            expected=needed,
            found=file_size,
        )
    return nbytes


# --------------------------------------------------------------------------------------
# Array proxy for .nii.gz files and raw reads
# --------------------------------------------------------------------------------------
def _read_frames(path: str, compressed: bool, offset: int, shape, dtype, a: int, b: int, out=None, expect=None):
    """Read elements ``[..., a:b]`` (along the last axis) of a file's F-ordered array, unscaled."""
    shape = tuple(int(s) for s in shape)
    frame = int(np.prod(shape[:-1], dtype=np.int64)) if shape else 1
    last = shape[-1] if shape else 1
    n = b - a
    if out is None:
        out = np.empty(frame * n * dtype.itemsize, dtype=np.uint8)
    want = frame * n * dtype.itemsize
    with _ByteStream(path, compressed, expect) as stream:
        stream.skip(offset + frame * a * dtype.itemsize)
        got = stream.readinto(memoryview(out)[:want])
        if got < want:
            total = offset + frame * last * dtype.itemsize
            raise CorruptImageError(
                f"Truncated image data in {path!r}: expected {total} bytes "
                f"(vox_offset {offset} + data for shape {shape} {dtype}), the "
                f"{'decompressed stream' if compressed else 'file'} has {stream.pos} bytes.",
                path=path,
                expected=total,
                found=stream.pos,
            )
        if b == last:
            stream.verify_end()
        stream.check_unchanged()
    arr = out[:want].view(dtype)
    return arr.reshape(shape[:-1] + (n,), order="F") if shape else arr.reshape(())


class GzipArrayProxy(ArrayProxy):
    """nibabel ``ArrayProxy`` for ``.nii.gz`` files read with the streamed (isal) decoder.

    Behaves like nibabel's own proxy (same scaling, dtype and slicing results) but decodes
    sequentially into a preallocated array, verifies the gzip CRC on full reads, and reads
    only up to the last volume needed when slicing along the last axis.
    """

    def _get_unscaled(self, slicer):
        shape, dtype = self.shape, self.dtype
        full = (slice(None),) * len(shape)
        canon = _canonical(slicer, shape)
        if canon is None:  # fancy indexing: read everything, let numpy index
            return self._read(0, shape[-1] if shape else 1)[slicer]
        if not shape:
            return self._read(0, 1)
        last = canon[-1]
        if isinstance(last, int):
            return self._read(last, last + 1)[canon[:-1] + (0,)]
        rng = range(*last.indices(shape[-1]))
        if len(rng) == 0:
            return np.empty(shape[:-1] + (0,), dtype)[canon[:-1] + (slice(None),)]
        lo, hi = min(rng), max(rng) + 1
        chunk = self._read(lo, hi)
        if rng.step != 1:
            chunk = np.take(chunk, np.asarray(rng) - lo, axis=-1)
        if canon == full:
            return chunk
        return chunk[canon[:-1] + (slice(None),)]

    def _read(self, a: int, b: int):
        return _read_frames(os.fspath(self.file_like), True, self.offset, self.shape, self.dtype, a, b,
                            expect=getattr(self, "_nimask_snapshot", None))


def _canonical(slicer, shape):
    """Normalise a basic-indexing slicer to one entry per axis (None for fancy indexing)."""
    if not isinstance(slicer, tuple):
        slicer = (slicer,)
    if any(s is None for s in slicer):
        return None
    if any(not isinstance(s, (slice, int, np.integer)) and s is not Ellipsis for s in slicer):
        return None
    n_ell = sum(s is Ellipsis for s in slicer)
    if n_ell > 1:
        return None
    if n_ell:
        i = slicer.index(Ellipsis)
        fill = len(shape) - (len(slicer) - 1)
        slicer = slicer[:i] + (slice(None),) * fill + slicer[i + 1 :]
    slicer = slicer + (slice(None),) * (len(shape) - len(slicer))
    if len(slicer) != len(shape):
        return None
    out = []
    for s, n in zip(slicer, shape, strict=True):
        if isinstance(s, slice):
            out.append(s)
        else:
            i = int(s)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis with size {n}")
            out.append(i % n)
    return tuple(out)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------
def _is_nifti_name(path: str) -> bool:
    low = path.lower()
    return low.endswith((".nii", ".nii.gz"))


def load_file(path: str | os.PathLike):
    """Open an image file lazily after validating it against its header.

    ``.nii`` and ``.nii.gz`` files are checked (magic bytes vs name, header, dtype, affine,
    declared size vs file size) and returned as ordinary ``Nifti1Image``/``Nifti2Image``
    objects; ``.nii.gz`` data are read with the streamed decoder (:class:`GzipArrayProxy`).
    Other formats nibabel knows (Analyze, MGH, ...) go through ``nibabel.load``.

    Raises
    ------
    ImageNotFoundError
        The path does not exist (a ``FileNotFoundError``).
    CorruptImageError
        Empty, truncated, wrongly named or otherwise damaged file.
    ImageTooLargeError
        The header declares more data than the file could possibly hold.
    UnsupportedImageError
        RGB, complex or unknown data types.
    """
    path = os.fspath(path)
    st = _check_regular_file(path)
    if not _is_nifti_name(path):
        with open(path, "rb") as fh:
            if fh.read(2) == _GZIP_MAGIC and not path.lower().endswith((".gz", ".mgz")):
                raise CorruptImageError(f"{path!r} is gzip-compressed but not named .gz.", path=path)
        try:
            img = nib.load(path)
            for part in getattr(img, "file_map", {}).values():  # .hdr/.img pairs: both files
                name = part.filename
                if isinstance(name, str) and not os.path.isfile(name):
                    raise ImageNotFoundError(
                        f"Image {path!r} is one file of a pair, and its partner {name!r} does not "
                        f"exist (a .hdr/.img pair needs both files).",
                        path=name,
                    )
            return img
        except ImageLoadError:
            raise
        except FileNotFoundError as exc:
            raise ImageNotFoundError(f"File not found while loading {path!r}: {exc}", path=path) from exc
        except Exception as exc:
            raise ImageLoadError(f"Could not load {path!r}: {exc}", path=path) from exc
    compressed = _sniff(path)
    with _ByteStream(path, compressed) as stream:
        klass, header, shape, dtype, vox_offset = _parse_header(stream, path)
    _check_size(path, compressed, st.st_size, vox_offset, shape, dtype)
    affine = _check_affine(header, path)
    file_map = klass.filespec_to_file_map(path)
    if compressed:
        proxy = GzipArrayProxy(path, header.copy(), mmap=False, keep_file_open=False)
    else:
        proxy = ArrayProxy(path, header.copy(), mmap=True, keep_file_open=False)
    proxy._nimask_snapshot = _snapshot(st)  # streamed reads check the file is still this one
    with _nibabel_log_silenced():  # the header fixes were already warned about, once
        img = klass(proxy, affine, header=header, file_map=file_map)
    # klass(...) with an affine may rewrite the header's q/sform codes; keep the file's
    for key in ("qform_code", "sform_code", "quatern_b", "quatern_c", "quatern_d",
                "qoffset_x", "qoffset_y", "qoffset_z", "srow_x", "srow_y", "srow_z", "pixdim"):
        img.header[key] = header[key]
    return img


def _loaded_snapshot(img):
    """(size, mtime_ns, inode) of the file when :func:`load_file` read its header, or None."""
    return getattr(img.dataobj, "_nimask_snapshot", None)


def _file_source(img):
    """(path, compressed, offset, shape, dtype, slope, inter) for a file-backed proxy, else None."""
    proxy = img.dataobj
    if not isinstance(proxy, ArrayProxy) or getattr(proxy, "order", "F") != "F":
        return None
    file_like = proxy.file_like
    if not isinstance(file_like, (str, os.PathLike)):
        return None
    path = os.fspath(file_like)
    if not os.path.isfile(path):
        return None
    return (path, is_gzip_file(path), int(proxy.offset), tuple(proxy.shape), np.dtype(proxy.dtype),
            proxy.slope, proxy.inter)


def _as_image(img_or_path):
    if isinstance(img_or_path, (str, os.PathLike)):
        return load_file(os.path.expanduser(os.fspath(img_or_path)))
    if isinstance(img_or_path, nib.spatialimages.SpatialImage):
        return img_or_path
    raise ParameterError(
        f"img_or_path must be a path or a nibabel image, got {type(img_or_path).__name__}.",
        param="img_or_path",
        found=type(img_or_path).__name__,
    )


def _scale(raw: np.ndarray, slope, inter) -> np.ndarray:
    """nibabel's read scaling: float64 ``raw * slope + inter`` unless (1, 0)."""
    s, i = np.asanyarray(slope), np.asanyarray(inter)
    return apply_read_scaling(raw, s, i)


def load_data(img_or_path) -> np.ndarray:
    """Whole data array of an image or file, with nibabel's values and dtype."""
    img = _as_image(img_or_path)
    return np.asanyarray(img.dataobj)


def _n_volumes(shape, name) -> int:
    if len(shape) == 3:
        return 1
    if len(shape) == 4:
        return int(shape[3])
    raise DimensionError(
        len(shape), 4,
        f"Expected a 3D or 4D image, got shape {tuple(shape)} ({len(shape)}D) from {name}.",
        path=name,
    )


def _default_chunk(vol_bytes: int, chunk_size: int | None) -> int:
    if chunk_size is None:
        return max(1, _DEFAULT_CHUNK_BYTES // max(vol_bytes, 1))
    if int(chunk_size) < 1:
        raise ParameterError(f"chunk_size must be a positive integer, got {chunk_size!r}.", param="chunk_size")
    return int(chunk_size)


def iter_volume_chunks(img_or_path, chunk_size: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(t0, chunk)`` with ``chunk`` of shape ``(x, y, z, n)``: volumes ``t0 .. t0+n-1``.

    File-backed images (paths, or nibabel images loaded from .nii/.nii.gz) are decoded
    sequentially, one chunk at a time, so the whole 4D array is never in memory. A 3D image
    gives one chunk of one volume. Values are nibabel's (scaled to float64 when the header
    has a slope/intercept, otherwise the stored dtype). Each yielded array is new.

    Parameters
    ----------
    img_or_path : str, Path or nibabel image
    chunk_size : int or None
        Volumes per chunk (default: about 8 MB of stored data per chunk).
    """
    img = _as_image(img_or_path)
    shape = tuple(img.shape)
    name = img.get_filename() or "the image"
    n_vol = _n_volumes(shape, name)
    src = _file_source(img)
    vol_elems = int(np.prod(shape[:3], dtype=np.int64))
    itemsize = src[4].itemsize if src else np.dtype(img.get_data_dtype()).itemsize
    step = _default_chunk(vol_elems * itemsize, chunk_size)
    if src is None:
        for t0 in range(0, n_vol, step):
            if len(shape) == 3:
                yield 0, np.asanyarray(img.dataobj)[..., np.newaxis]
            else:
                yield t0, np.asanyarray(img.dataobj[..., t0 : t0 + step])
        return
    path, compressed, offset, fshape, dtype, slope, inter = src
    with _ByteStream(path, compressed, _loaded_snapshot(img)) as stream:
        stream.skip(offset)
        for t0 in range(0, n_vol, step):
            n = min(step, n_vol - t0)
            raw = _read_chunk(stream, path, compressed, offset, fshape, dtype, n, n_vol)
            raw = raw.reshape(shape[:3] + (n,), order="F")
            stream.check_unchanged()
            yield t0, _scale(raw, slope, inter)
        stream.verify_end()
        stream.check_unchanged()


def _read_chunk(stream: _ByteStream, path, compressed, offset, shape, dtype, n, n_vol, buf=None):
    vol_bytes = int(np.prod(shape[:3], dtype=np.int64)) * dtype.itemsize
    want = vol_bytes * n
    if buf is None:
        buf = np.empty(want, dtype=np.uint8)
    got = stream.readinto(memoryview(buf)[:want])
    if got < want:
        total = offset + vol_bytes * n_vol
        raise CorruptImageError(
            f"Truncated image data in {path!r}: expected {total} bytes (vox_offset {offset} + "
            f"data for shape {tuple(shape)} {dtype}), the {'decompressed stream' if compressed else 'file'} "
            f"has {stream.pos} bytes.",
            path=path,
            expected=total,
            found=stream.pos,
        )
    return buf[:want].view(dtype)


def _output_dtype(source_dtype: np.dtype, dtype) -> np.dtype:
    if isinstance(dtype, str) and dtype == "f":
        return source_dtype if source_dtype.kind == "f" else np.dtype(np.float32)
    return np.dtype(dtype)


def gather_masked(
    img_or_path,
    mask_bool: np.ndarray,
    *,
    dtype: Any = "f",
    chunk_size: int | None = None,
    ensure_finite: bool = True,
) -> np.ndarray:
    """Masked voxels of every volume as a ``(T, n_voxels)`` matrix (``apply_mask`` semantics).

    Voxels are in C order of the mask (as ``data[mask]``). With ``dtype="f"`` float data keep
    their dtype (float64 for scaled integer files, as nibabel reads them) and other data become
    float32; any other ``dtype`` is cast to exactly. Non-finite values become 0 when
    ``ensure_finite``. A 3D image gives a 1-D ``(n_voxels,)`` array, as ``apply_mask`` does.

    For file-backed images each chunk of volumes is decoded into one reused buffer and the
    mask voxels are gathered straight from it (their F-order offsets are precomputed), so peak
    memory is the output matrix plus one chunk.
    """
    img = _as_image(img_or_path)
    shape = tuple(img.shape)
    name = img.get_filename() or "the image"
    mask = np.asarray(mask_bool)
    if mask.dtype != bool:
        raise ParameterError(f"mask_bool must be a boolean array, got dtype {mask.dtype}.", param="mask_bool")
    if mask.shape != shape[:3]:
        raise GeometryError(
            f"mask_bool has shape {mask.shape}, the image {name} has spatial shape {shape[:3]}.",
            param="mask_bool",
            expected=shape[:3],
            found=mask.shape,
        )
    n_vol = _n_volumes(shape, name)
    src = _file_source(img)
    if src is None:
        out = _gather_in_memory(img, mask, dtype, ensure_finite)
    else:
        out = _gather_file(src, mask, n_vol, dtype, chunk_size, ensure_finite, _loaded_snapshot(img))
    return out[0] if len(shape) == 3 else out


def _source_dtype(raw_dtype: np.dtype, slope, inter) -> np.dtype:
    probe = _scale(np.zeros(1, dtype=raw_dtype), slope, inter)
    return probe.dtype


def _gather_file(src, mask, n_vol, dtype, chunk_size, ensure_finite, expect=None):
    path, compressed, offset, shape, raw_dtype, slope, inter = src
    scaled = not (np.all(np.asanyarray(slope) == 1) and np.all(np.asanyarray(inter) == 0))
    src_dtype = _source_dtype(raw_dtype, slope, inter)
    out_dtype = _output_dtype(src_dtype, dtype)
    # F-order offsets of the mask voxels, listed in C order (as data[mask])
    idx = np.ravel_multi_index(np.nonzero(mask), shape[:3], order="F").astype(np.intp)
    n_vox = idx.size
    vol_elems = int(np.prod(shape[:3], dtype=np.int64))
    step = _default_chunk(vol_elems * raw_dtype.itemsize, chunk_size)
    out = np.empty((n_vol, n_vox), dtype=out_dtype)
    direct = raw_dtype == out_dtype and not scaled
    tmp = None if direct else np.empty((min(step, max(n_vol, 1)), n_vox), dtype=raw_dtype.newbyteorder("="))
    check_finite = ensure_finite and out_dtype.kind in "fc" and (raw_dtype.kind == "f" or scaled)

    def raw_chunks():
        # three buffers in turn: one being gathered, one queued, one being decoded
        bufs = [np.empty(vol_elems * raw_dtype.itemsize * min(step, max(n_vol, 1)), dtype=np.uint8)
                for _ in range(3 if n_vol > step else 1)]
        with _ByteStream(path, compressed, expect) as stream:
            stream.skip(offset)
            for i, t0 in enumerate(range(0, n_vol, step)):
                n = min(step, n_vol - t0)
                raw = _read_chunk(stream, path, compressed, offset, shape, raw_dtype, n, n_vol, bufs[i % len(bufs)])
                yield t0, raw.reshape(n, vol_elems)
            stream.verify_end()
            stream.check_unchanged()

    chunks = raw_chunks() if n_vol <= step else prefetched(raw_chunks(), depth=1)  # decoding overlaps the gather
    for t0, raw in chunks:
        n = raw.shape[0]
        block = out[t0 : t0 + n]
        if direct:
            np.take(raw, idx, axis=1, out=block)
        else:
            np.take(raw, idx, axis=1, out=tmp[:n])
            if scaled:
                block[...] = _scale(tmp[:n], slope, inter)
            else:
                block[...] = tmp[:n]
        if check_finite:
            zero_nonfinite(block)
    return out


def _gather_in_memory(img, mask, dtype, ensure_finite):
    data = np.asanyarray(img.dataobj)
    out_dtype = _output_dtype(data.dtype, dtype)
    if data.ndim == 3:
        data = data[..., np.newaxis]
    out = np.asarray(data[mask].T, dtype=out_dtype, order="C")
    if np.shares_memory(out, data):
        out = out.copy()
    if ensure_finite and out.dtype.kind in "fc":
        zero_nonfinite(out)
    return out
