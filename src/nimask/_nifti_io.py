"""Reading NIfTI files: validated, with a fast gzip decoder, whole or in chunks of volumes.

A NIfTI file stores its voxels contiguously after ``vox_offset`` in Fortran order, so the
volumes of a 4D run follow one another in the (decompressed) byte stream. This module
reads that stream sequentially:

* :func:`load_file` parses and validates the header (magic, dtype, geometry, and every field
  that locates and sizes the data against the others and against the file: vox_offset,
  extensions, dim, datatype/bitpix, byte order, scaling, file length) and returns an ordinary
  lazy nibabel image (``Nifti1Image`` / ``Nifti2Image``, or ``Nifti1Pair`` / ``Nifti2Pair`` for
  a ``.hdr``/``.img`` pair); for gzipped data its array proxy decompresses with ``isal`` (zlib
  if isal is missing), checks the CRC, and reads only the volumes asked for. A disagreement is
  an :class:`~nimask.exceptions.InconsistentImageError` naming the file and both values.
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
import math
import os
import stat
import struct
import warnings
from collections.abc import Iterator
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.arrayproxy import ArrayProxy
from nibabel.volumeutils import apply_read_scaling, native_code

from ._nonfinite import zero_nonfinite
from ._read_ahead import claim
from ._threads import prefetched
from .exceptions import (
    CorruptImageError,
    DimensionError,
    GeometryError,
    ImageLoadError,
    ImageNotFoundError,
    ImageTooLargeError,
    InconsistentImageError,
    NimaskDataWarning,
    NimaskError,
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
_HEADER_BLOCK = 1 << 16  # ... when only the header (and extensions) are wanted
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

    def __init__(self, path: str, compressed: bool, expect: tuple | None = None, block: int = _READ_BLOCK) -> None:
        self.path = path
        self._block = block
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
                self._tail = self._fh.read(self._block)
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

    def read_rest(self, cap: int) -> bytes:
        """The rest of the (decompressed) stream, at most ``cap`` bytes."""
        parts, total = [], 0
        while total < cap:
            part = self.read(min(self._block, cap - total))
            if not part:
                break
            parts.append(part)
            total += len(part)
        return b"".join(parts)

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

    def verify_end(self, layout: str) -> None:
        """At the end of the image data: the file (or decompressed stream) must end here.

        ``layout`` describes what the header declares (:func:`_layout_text`), for the message.
        Uncompressed: one ``fstat``. gzip: the rest of the stream is decompressed, which also
        checks its CRC32; any byte left after the data is an :class:`InconsistentImageError`.
        """
        if not self.compressed:
            size = os.fstat(self._fh.fileno()).st_size
            if size != self.pos:
                raise _length_error(self.path, self.pos, size, layout, "file")
            return
        buf = memoryview(bytearray(1 << 20))
        extra = 0
        while not self._eof:
            extra += self._readinto_gz(buf)
        if extra:
            raise _length_error(self.path, self.pos, self.pos + extra, layout, "decompressed stream")

    def count_to_end(self, limit: int) -> tuple[int, bool]:
        """Decompress the rest of the stream without keeping it (the CRC is checked); stop once
        more than ``limit`` bytes were seen. Return (length seen, whether the stream ended)."""
        buf = memoryview(bytearray(1 << 20))
        while not self._eof and self.pos <= limit:
            self.readinto(buf)
        return self.pos, self._eof

    def gzip_isize(self) -> int | None:
        """The gzip trailer's ISIZE (length of the last member's data, mod 2**32), or None."""
        size = self._snapshot[0]
        if not self.compressed or size < 18:
            return None
        tail = os.pread(self._fh.fileno(), 4, size - 4)
        return struct.unpack("<I", tail)[0] if len(tail) == 4 else None


def _dtype_name(dtype: np.dtype) -> str:
    """'float32', 'int16 big-endian': the data type as the messages name it."""
    dtype = np.dtype(dtype)
    name = str(dtype.newbyteorder("="))
    return f"{name} big-endian" if dtype.byteorder == ">" else name


def _layout_text(offset: int, shape, dtype: np.dtype) -> str:
    nbytes = math.prod(int(s) for s in shape) * dtype.itemsize
    return f"vox_offset {offset} + {nbytes} data bytes for shape {tuple(int(s) for s in shape)} {_dtype_name(dtype)}"


def _length_error(path: str, expected: int, found: int, layout: str, what: str,
                  at_least: bool = False) -> InconsistentImageError:
    """The file (or decompressed stream) length disagrees with the header's layout."""
    sizes = f"expected {expected} bytes ({layout}), the {what} has {'at least ' if at_least else ''}{found} bytes"
    if found < expected:
        message = f"Truncated image {path!r}: {sizes}."
    else:
        message = (f"Image {path!r} is longer than its header says: {sizes} ({found - expected} bytes after "
                   f"the data). The header's dim, datatype/bitpix or vox_offset do not describe this file; "
                   f"it is not read rather than read wrongly.")
    return InconsistentImageError(message, path=path, param="file length", expected=expected, found=found)


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
            f"rename it to {os.path.basename(path)[:-3]!r} if it is an uncompressed NIfTI file.",
            path=path,
        )
    if compressed and not named_gz:
        ext = os.path.splitext(path)[1]
        raise CorruptImageError(
            f"{path!r} is gzip-compressed but named {ext}; rename it to {ext}.gz.", path=path
        )
    return compressed


# Where the fields that locate and size the data are, per NIfTI version: (size of the header,
# struct format and offset of dim[8], image classes for a single file and for a .hdr/.img pair)
_VERSIONS = {
    1: (348, "h", 40, nib.Nifti1Image, nib.Nifti1Pair),
    2: (540, "q", 16, nib.Nifti2Image, nib.Nifti2Pair),
}
_ORDER_NAMES = {"<": "little-endian", ">": "big-endian"}


def _nifti_version(prefix: bytes) -> int | None:
    if len(prefix) >= 348 and prefix[344:348] in _NIFTI1_MAGICS:
        return 1
    if len(prefix) >= 540 and prefix[4:8] in _NIFTI2_MAGICS:
        return 2
    return None


def _header_class(prefix: bytes, path: str, pair: bool = False):
    """(image class, NIfTI version) from the magic; errors name what was found instead."""
    version = _nifti_version(prefix)
    if version is not None:
        return _VERSIONS[version][4 if pair else 3], version
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


def _check_dims(prefix: bytes, version: int, path: str) -> str:
    """Check ``dim`` and the byte order before nibabel guesses it; return the byte order.

    The standard takes the byte order from dim[0] (1..7 in exactly one order). ``sizeof_hdr``
    is a second witness: the header size written in the *other* order means that the file
    mixes byte orders, and the order of the data cannot be known.
    """
    sizeof_hdr, fmt, off = _VERSIONS[version][:3]
    size = struct.calcsize(fmt)
    raw = prefix[off : off + 8 * size]
    for endian in "<>":
        dims = struct.unpack(endian + fmt * 8, raw)
        if 1 <= dims[0] <= 7:
            break
    else:
        dim0 = struct.unpack("<" + fmt, raw[:size])[0]
        swapped = struct.unpack(">" + fmt, raw[:size])[0]
        raise InconsistentImageError(
            f"Invalid header in {path!r}: dim[0]={dim0} (number of dimensions) must be 1..7 "
            f"(read in the other byte order it is {swapped}).",
            path=path, param="dim[0]", expected="1..7", found=dim0,
        )
    other = ">" if endian == "<" else "<"
    (declared,) = struct.unpack(endian + "i", prefix[:4])
    if declared != sizeof_hdr and struct.unpack(other + "i", prefix[:4])[0] == sizeof_hdr:
        raise InconsistentImageError(
            f"Header of {path!r} mixes byte orders: sizeof_hdr={sizeof_hdr} is written "
            f"{_ORDER_NAMES[other]} (read {_ORDER_NAMES[endian]} it is {declared}) but dim[0]={dims[0]} "
            f"is valid only {_ORDER_NAMES[endian]}; the byte order of the data cannot be known.",
            path=path, param="sizeof_hdr", expected=_ORDER_NAMES[endian], found=_ORDER_NAMES[other],
        )
    ndim = dims[0]
    for i in range(1, ndim + 1):
        if dims[i] < 0:
            raise InconsistentImageError(
                f"Invalid header in {path!r}: dim[{i}]={dims[i]} is negative (dim[0]={ndim}).",
                path=path, param=f"dim[{i}]", found=dims[i],
            )
    for i in range(ndim + 1, 8):
        if dims[i] not in (0, 1):
            raise InconsistentImageError(
                f"Header of {path!r} disagrees with itself: dim[0]={ndim} says the image has {ndim} "
                f"dimensions but dim[{i}]={dims[i]}; a dimension beyond dim[0] must be 1 (or 0, unset), "
                f"so dim[0] or dim[{i}] is wrong.",
                path=path, param=f"dim[{i}]", expected=f"1 (dim[0]={ndim})", found=dims[i],
            )
    return endian


def _check_bitpix(head, path: str) -> None:
    """bitpix MUST correspond with datatype (NIfTI standard); nibabel silently rewrites it."""
    try:
        dtype = head.get_data_dtype()
    except Exception:  # an unknown datatype code: refused below with nibabel's message
        return
    bitpix = int(head["bitpix"])
    if dtype.itemsize and bitpix != dtype.itemsize * 8:
        code = int(head["datatype"])
        raise InconsistentImageError(
            f"Header of {path!r} disagrees with itself: datatype {code} ({dtype.newbyteorder('=')}) has "
            f"{dtype.itemsize * 8} bits per voxel but bitpix={bitpix}; the size of the data "
            f"cannot be known.",
            path=path, param="bitpix", expected=dtype.itemsize * 8, found=bitpix,
        )


def _parse_extensions(block: bytes, version: int, end: int, endian: str, path: str, where: str):
    """Walk the header extensions in ``block[sizeof_hdr + 4 : end]``; return the bytes of the
    well-formed chain, or None when there are none (or they are ignored).

    ``end`` is vox_offset for a single file and the end of a .hdr file. Each extension must be
    a positive multiple of 16 bytes (NIfTI standard), otherwise an
    :class:`InconsistentImageError`; an ``esize`` of 0 ends the chain (the rest is padding).
    An extension that runs past ``end`` makes the whole section ignored, as the standard says,
    with a :class:`NimaskDataWarning`. The data are located by vox_offset only.
    """
    start = _VERSIONS[version][0] + 4
    flag = block[start - 4 : start]
    if len(flag) < 4 or flag[0] == 0:
        return None
    pos, k = start, 0
    while end - pos >= 16:
        esize, _ecode = struct.unpack(endian + "ii", block[pos : pos + 8])
        if esize == 0:
            break
        if esize < 0 or esize % 16:
            raise InconsistentImageError(
                f"Header extension {k} of {path!r} (at byte {pos}) has esize={esize}: the NIfTI "
                f"standard requires a positive multiple of 16 bytes, so the extensions cannot be walked "
                f"up to {where} {end}.",
                path=path, param="esize", expected="a positive multiple of 16", found=esize,
            )
        if pos + esize > end:
            warnings.warn(
                f"Header extension {k} of {path!r} (at byte {pos}, esize={esize}) runs past {where} {end}; "
                f"all header extensions are ignored, as the NIfTI standard says (the data are read at "
                f"vox_offset).",
                NimaskDataWarning, stacklevel=5,
            )
            return None
        pos += esize
        k += 1
    if k == 0:
        warnings.warn(
            f"The extension flag of {path!r} says header extensions follow (byte {start - 4} = "
            f"{flag[0]}), but {where} {end} leaves no room for one; no extension is read.",
            NimaskDataWarning, stacklevel=5,
        )
        return None
    return block[start:pos]


def _parse_header(stream: _ByteStream, path: str, pair: bool = False):
    """Parse and check the header of a single file (``pair=False``) or of a .hdr file.

    Returns ``(image class, header, shape, dtype, data offset, vox_offset note)``. For a single
    file the data offset is vox_offset, raised to the end of the header (352 / 544) when it is
    below, as the NIfTI standard reads it.
    """
    prefix = stream.read(540)
    klass, version = _header_class(prefix, path, pair)
    sizeof_hdr = _VERSIONS[version][0]
    endian = _check_dims(prefix, version, path)
    try:
        head = klass.header_class(prefix[:sizeof_hdr], check=False)
    except Exception as exc:
        raise CorruptImageError(f"Unreadable NIfTI header in {path!r}: {exc}", path=path) from exc
    raw_offset = float(head["vox_offset"])
    if not np.isfinite(raw_offset) or raw_offset != int(raw_offset) or raw_offset < 0:
        raise CorruptImageError(
            f"Invalid header in {path!r}: vox_offset={raw_offset!r} must be a non-negative whole "
            f"number of bytes.",
            path=path, param="vox_offset", found=raw_offset,
        )
    vox_offset = int(raw_offset)
    magic = prefix[344:348] if version == 1 else prefix[4:8]
    single_magic = magic[1:2] == b"+"
    if pair and single_magic:
        text = magic[:3].decode()
        raise InconsistentImageError(
            f"{path!r} is the header of a .hdr/.img pair but its magic {text!r} says the data are in "
            f"the same file as the header; which file holds the data cannot be known.",
            path=path, param="magic", expected=f"ni{version}", found=text,
        )
    if not pair and not single_magic:
        warnings.warn(
            f"{path!r} has the magic of a .hdr/.img pair inside a single file; read as a single file.",
            NimaskDataWarning,
            stacklevel=3,
        )
    note = ""
    if pair:
        data_offset = vox_offset
        prefix += stream.read_rest(_MAX_HEADER_BYTES - len(prefix))  # extensions run to the end of the .hdr
        ext_end, where = len(prefix), "the end of the header file, byte"
    else:
        data_offset = max(vox_offset, sizeof_hdr + 4)
        if data_offset != vox_offset:
            note = (f"; the header's vox_offset {vox_offset} is below {data_offset}, which the NIfTI "
                    f"standard reads as {data_offset}")
            head["vox_offset"] = data_offset
        # header + extensions span [0, vox_offset); read them so nibabel keeps the extensions
        ext_end = min(data_offset, _MAX_HEADER_BYTES)
        prefix += stream.read_rest(ext_end - len(prefix))  # in blocks: a bogus vox_offset allocates nothing
        where = "vox_offset"
    _check_bitpix(head, path)
    if not pair and data_offset > _MAX_HEADER_BYTES and prefix[sizeof_hdr : sizeof_hdr + 1] != b"\x00":
        warnings.warn(
            f"The header extensions of {path!r} (vox_offset {data_offset}) are not read: more than "
            f"{_MAX_HEADER_BYTES} bytes before the data.",
            NimaskDataWarning, stacklevel=3,
        )
        chain = None
    elif len(prefix) < ext_end:  # the file ends before vox_offset: refused by the length checks
        chain = None
    else:
        chain = _parse_extensions(prefix, version, ext_end, endian, path, where)
    try:
        header = klass.header_class(head.binaryblock, check=False)
        if chain is not None:
            byteswap = header.endianness != native_code
            header.extensions = header.exts_klass.from_fileobj(io.BytesIO(chain), len(chain), byteswap)
        fixes = _check_fix(header)
        _check_scaling(header, path)
        header.get_slope_inter()  # raises for a valid slope with an invalid intercept
        dtype = header.get_data_dtype()
        shape = header.get_data_shape()
    except NimaskError:
        raise
    except Exception as exc:
        raise UnsupportedImageError(f"Unsupported or invalid NIfTI header in {path!r}: {exc}", path=path) from exc
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
    return klass, header, shape, dtype, data_offset, note


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
    """Scaling as the NIfTI standard (and its reference library) reads it.

    A slope of 0 means no scaling (and the intercept is ignored); a NaN or infinite slope is
    read as 0 too, as niftilib does (an infinite one with a warning). A usable slope with a
    non-finite intercept cannot be applied: an :class:`InconsistentImageError`.
    """
    if "scl_slope" not in header:
        return
    slope, inter = float(header["scl_slope"]), float(header["scl_inter"])
    if np.isinf(slope):
        warnings.warn(
            f"Header of {path!r} has an invalid scl_slope={slope}; it is ignored (no scaling).",
            NimaskDataWarning, stacklevel=4,
        )
    elif slope != 0 and np.isfinite(slope) and not np.isfinite(inter):
        raise InconsistentImageError(
            f"Header of {path!r} disagrees with itself: scl_slope={slope!r} asks for scaling but "
            f"scl_inter={inter!r} is not a number (invalid intercept {inter}); the values cannot be known.",
            path=path, param="scl_inter", expected="a finite intercept", found=inter,
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


def _check_layout(path: str, compressed: bool, file_size: int, offset: int, shape, dtype,
                  note: str = "", isize: int | None = None) -> None:
    """Check the header's layout (data offset + shape x itemsize) against the data file.

    An uncompressed file must be exactly that long (``os.stat``, nothing read). A gzip file's
    decompressed length is known only at the end of its stream, where every full read checks it
    (:meth:`_ByteStream.verify_end`); here the gzip trailer's ISIZE (``isize``: the length of
    the last member's data, mod 2**32) is the hint: when it matches, nothing more is done. When
    it does not (a disagreement, a truncated stream, trailing garbage, or several gzip members),
    the stream is decompressed once, without keeping it, to measure it.
    """
    nbytes = math.prod(int(s) for s in shape) * dtype.itemsize
    needed = offset + nbytes
    if needed > _MAX_DEFLATE_RATIO * file_size + (1 << 16):
        raise ImageTooLargeError(
            f"Header of {path!r} declares shape {tuple(shape)} of {dtype} at vox_offset {offset} "
            f"({needed} bytes), far more than a {file_size}-byte file can hold; the header is corrupt.",
            path=path,
            expected=needed,
            found=file_size,
        )
    layout = _layout_text(offset, shape, dtype) + note
    if not compressed:
        if needed != file_size:
            raise _length_error(path, needed, file_size, layout, "file")
        return
    if isize is not None and isize == needed % (1 << 32):
        return
    with _ByteStream(path, True) as stream:
        found, ended = stream.count_to_end(needed + (16 << 20))
    if found != needed:
        raise _length_error(path, needed, found, layout, "decompressed stream", at_least=not ended)


# --------------------------------------------------------------------------------------
# Array proxy for .nii.gz files and raw reads
# --------------------------------------------------------------------------------------
def _read_frames(path: str, compressed: bool, offset: int, shape, dtype, a: int, b: int, out=None, expect=None):
    """Read elements ``[..., a:b]`` (along the last axis) of a file's F-ordered array, unscaled.

    A read up to the last element checks that the stream ends with the data (and its CRC).
    """
    shape = tuple(int(s) for s in shape)
    frame = int(np.prod(shape[:-1], dtype=np.int64)) if shape else 1
    last = shape[-1] if shape else 1
    n = b - a
    if out is None:
        out = np.empty(frame * n * dtype.itemsize, dtype=np.uint8)
    want = frame * n * dtype.itemsize
    with _ByteStream(path, compressed, expect) as stream:
        stream.skip(offset + frame * a * dtype.itemsize)
        if stream.readinto(memoryview(out)[:want]) < want:
            raise _length_error(path, offset + frame * last * dtype.itemsize, stream.pos,
                                _layout_text(offset, shape, dtype), "decompressed stream" if compressed else "file")
        if b == last:
            stream.verify_end(_layout_text(offset, shape, dtype))
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


_PAIR_SUFFIXES = (".hdr", ".img", ".hdr.gz", ".img.gz")


def load_file(path: str | os.PathLike):
    """Open an image file lazily after validating it against its header.

    ``.nii`` and ``.nii.gz`` files, and NIfTI-1/2 ``.hdr``/``.img`` pairs (either file may be
    given; gzipped or not), are checked (magic bytes vs name, header, dtype, affine, the data's
    offset and size vs the file's size) and returned as ordinary ``Nifti1Image``/``Nifti2Image``
    (``Nifti1Pair``/``Nifti2Pair``) objects; gzipped data are read with the streamed decoder
    (:class:`GzipArrayProxy`). Other formats nibabel knows (Analyze, MGH, ...) go through
    ``nibabel.load``.

    Raises
    ------
    ImageNotFoundError
        The path (or the other file of a pair) does not exist (a ``FileNotFoundError``).
    CorruptImageError
        Empty, truncated, wrongly named or otherwise damaged file.
    InconsistentImageError
        Header fields disagree with each other or with the file about where the data are, how
        many bytes they take or how they are read (also a ``ValueError``).
    ImageTooLargeError
        The header declares more data than the file could possibly hold.
    UnsupportedImageError
        RGB, complex or unknown data types.
    """
    path = os.fspath(path)
    st = _check_regular_file(path)
    if path.lower().endswith(_PAIR_SUFFIXES):
        img = _load_pair(path)
        if img is not None:
            return img
    if not _is_nifti_name(path):
        return _load_other(path)
    compressed = _sniff(path)
    with _ByteStream(path, compressed, block=_HEADER_BLOCK) as stream:
        klass, header, shape, dtype, offset, note = _parse_header(stream, path)
        isize = stream.gzip_isize()
    _check_layout(path, compressed, st.st_size, offset, shape, dtype, note, isize)
    return _make_image(klass, path, header, path, compressed, st)


def _make_image(klass, path: str, header, data_path: str, compressed: bool, st: os.stat_result):
    affine = _check_affine(header, path)
    file_map = klass.filespec_to_file_map(path)
    if compressed:
        proxy = GzipArrayProxy(data_path, header.copy(), mmap=False, keep_file_open=False)
    else:
        proxy = ArrayProxy(data_path, header.copy(), mmap=True, keep_file_open=False)
    proxy._nimask_snapshot = _snapshot(st)  # streamed reads check the file is still this one
    with _nibabel_log_silenced():  # the header fixes were already warned about, once
        img = klass(proxy, affine, header=header, file_map=file_map)
    # klass(...) with an affine may rewrite the header's q/sform codes; keep the file's
    for key in ("qform_code", "sform_code", "quatern_b", "quatern_c", "quatern_d",
                "qoffset_x", "qoffset_y", "qoffset_z", "srow_x", "srow_y", "srow_z", "pixdim"):
        img.header[key] = header[key]
    return img


def _load_pair(path: str):
    """A NIfTI ``.hdr``/``.img`` pair, validated like a single file; None for an Analyze header.

    The data are in the .img file at vox_offset (0 by default); the .img must be exactly
    vox_offset + the data long (gzip: the decompressed length, as for a single file).
    """
    try:
        file_map = nib.Nifti1Pair.filespec_to_file_map(path)
    except Exception:  # a name nibabel does not map to a pair
        return None
    hdr_path, img_path = file_map["header"].filename, file_map["image"].filename
    for name in (hdr_path, img_path):
        if not os.path.exists(name):
            raise ImageNotFoundError(
                f"Image {path!r} is one file of a pair, and its partner {name!r} does not "
                f"exist (a .hdr/.img pair needs both files).",
                path=name,
            )
    _check_regular_file(hdr_path)
    img_st = _check_regular_file(img_path)
    hdr_gz, img_gz = _sniff(hdr_path), _sniff(img_path)
    with _ByteStream(hdr_path, hdr_gz, block=_HEADER_BLOCK) as stream:
        if _nifti_version(stream.read(540)) is None:
            return None  # no NIfTI magic: an Analyze 7.5 header, read by nibabel
    with _ByteStream(hdr_path, hdr_gz, block=_HEADER_BLOCK) as stream:
        klass, header, shape, dtype, offset, note = _parse_header(stream, hdr_path, pair=True)
    isize = None
    if img_gz:
        with _ByteStream(img_path, True) as stream:
            isize = stream.gzip_isize()
    note += f"; header {hdr_path!r}"
    _check_layout(img_path, img_gz, img_st.st_size, offset, shape, dtype, note, isize)
    return _make_image(klass, path, header, img_path, img_gz, img_st)


def _load_other(path: str):
    """Formats other than NIfTI-1/2 (Analyze, MGH, ...): ``nibabel.load``, errors named."""
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


def chunk_step(img, src, chunk_size: int | None = None) -> int:
    """Volumes per chunk of :func:`iter_volume_chunks` for ``img`` (``src``: its ``_file_source``)."""
    vol_elems = int(np.prod(tuple(img.shape)[:3], dtype=np.int64))
    itemsize = src[4].itemsize if src else np.dtype(img.get_data_dtype()).itemsize
    return _default_chunk(vol_elems * itemsize, chunk_size)


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
    step = chunk_step(img, src, chunk_size)
    if src is None:
        for t0 in range(0, n_vol, step):
            if len(shape) == 3:
                yield 0, np.asanyarray(img.dataobj)[..., np.newaxis]
            else:
                yield t0, np.asanyarray(img.dataobj[..., t0 : t0 + step])
        return
    ahead = claim(src, step)  # decoded already while the estimator was fitting (``_read_ahead``)
    yield from (ahead if ahead is not None else _file_chunks(img, step))


def _file_chunks(img, step: int) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`iter_volume_chunks` of a file-backed image, decoded here."""
    shape = tuple(img.shape)
    n_vol = _n_volumes(shape, img.get_filename() or "the image")
    path, compressed, offset, fshape, dtype, slope, inter = _file_source(img)
    with _ByteStream(path, compressed, _loaded_snapshot(img)) as stream:
        stream.skip(offset)
        for t0 in range(0, n_vol, step):
            n = min(step, n_vol - t0)
            raw = _read_chunk(stream, path, compressed, offset, fshape, dtype, n, n_vol)
            raw = raw.reshape(shape[:3] + (n,), order="F")
            stream.check_unchanged()
            yield t0, _scale(raw, slope, inter)
        stream.verify_end(_layout_text(offset, fshape, dtype))
        stream.check_unchanged()


def _read_chunk(stream: _ByteStream, path, compressed, offset, shape, dtype, n, n_vol, buf=None):
    vol_bytes = int(np.prod(shape[:3], dtype=np.int64)) * dtype.itemsize
    want = vol_bytes * n
    if buf is None:
        buf = np.empty(want, dtype=np.uint8)
    if stream.readinto(memoryview(buf)[:want]) < want:
        raise _length_error(path, offset + vol_bytes * n_vol, stream.pos, _layout_text(offset, shape, dtype),
                            "decompressed stream" if compressed else "file")
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
            stream.verify_end(_layout_text(offset, shape, raw_dtype))
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
