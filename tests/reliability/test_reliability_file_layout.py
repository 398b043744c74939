"""Catalogue §2.13 (file layout, round 2): where the voxel bytes are and how many there are.

Every header field that decides where the data start, how many bytes they take and how they
are read is checked against the other fields and against the file, for NIfTI-1 and NIfTI-2,
in single files (.nii, .nii.gz) and .hdr/.img pairs (plain or gzipped). A disagreement is an
:class:`~nimask.exceptions.InconsistentImageError` (a ``CorruptImageError``, so an ``OSError``,
and a ``ValueError``) whose message names the file and the two disagreeing values, and nothing
is returned: the load/read raises, a masker fitted on it stays unfitted, a transform returns
nothing, a batch run writes no output. Where the NIfTI standard itself defines the reading
(vox_offset below 352, slope 0, extensions running past vox_offset, ...) the file is read
that way and the values are the true ones (``test_standard_readings_give_the_true_values``).
"""
from __future__ import annotations

import gzip
import os
import struct
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from _rel import raises
from nimask import image
from nimask.exceptions import InconsistentImageError, NimaskDataWarning
from nimask.maskers import NiftiMasker

SHAPE = (5, 6, 7, 4)
DATA = (np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE, order="F") * 0.5 - 40.0)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
NBYTES = DATA.nbytes
CONTAINERS = [".nii", ".nii.gz", ".hdr", ".hdr.gz"]
_FMT = {("i", 2): "h", ("i", 4): "i", ("i", 8): "q", ("f", 4): "f", ("f", 8): "d"}


class Layout:
    """A small image as header bytes (+ extensions) and data bytes, patched field by field."""

    def __init__(self, version: int = 1, endian: str = "<", extension: bytes | None = None) -> None:
        klass = nib.Nifti1Image if version == 1 else nib.Nifti2Image
        img = klass(DATA, AFFINE, header=klass.header_class(endianness=endian))
        if extension is not None:
            img.header.extensions.append(nib.nifti1.Nifti1Extension(6, extension))
        raw = img.to_bytes()
        self.version, self.endian = version, endian
        self.sizeof = 348 if version == 1 else 540
        self.offset = len(raw) - NBYTES  # the data end the file
        self.head = bytearray(raw[: self.offset])
        self.data = bytearray(raw[self.offset :])
        self.dtype = img.header.template_dtype

    def where(self, name: str, index: int = 0) -> tuple[int, str]:
        field = self.dtype.fields[name]
        base, off = field[0], field[1]
        if base.subdtype is not None:
            base = base.subdtype[0]
            off += index * base.itemsize
        if base.kind == "S":
            return off, f"{base.itemsize}s"
        return off, self.endian + _FMT[(base.kind, base.itemsize)]

    def get(self, name: str, index: int = 0):
        off, fmt = self.where(name, index)
        return struct.unpack_from(fmt, self.head, off)[0]

    def set(self, name: str, value, index: int = 0) -> Layout:
        off, fmt = self.where(name, index)
        struct.pack_into(fmt, self.head, off, value)
        return self

    def write(self, tmp_path, container: str, name: str = "bad") -> tuple[str, str, str]:
        """Write it as ``container``; return (path to load, header file, data file)."""
        zipped = container.endswith(".gz")
        pack = (lambda b: gzip.compress(bytes(b), mtime=0)) if zipped else bytes
        if container.startswith(".nii"):
            path = tmp_path / f"{name}{container}"
            path.write_bytes(pack(self.head + self.data))
            return str(path), str(path), str(path)
        gzs = ".gz" if zipped else ""
        hdr, img = tmp_path / f"{name}.hdr{gzs}", tmp_path / f"{name}.img{gzs}"
        hdr.write_bytes(pack(self.head))
        img.write_bytes(pack(self.data))
        return str(hdr), str(hdr), str(img)


def layout(version: int, container: str, endian: str = "<", extension: bytes | None = None) -> Layout:
    """The layout of ``container``: a pair's header has the pair magic and its data at 0."""
    lay = Layout(version, endian, extension)
    if container.startswith(".hdr"):
        lay.set("magic", b"ni1\x00" if version == 1 else b"ni2\x00")
        lay.set("vox_offset", 0)
        lay.offset = 0
    return lay


def _read(path: str) -> np.ndarray:
    return np.asarray(image.load_img(path).dataobj)


def _mask() -> nib.Nifti1Image:
    mask = np.zeros(SHAPE[:3], np.uint8)
    mask[1:4, 1:5, 2:6] = 1
    return nib.Nifti1Image(mask, AFFINE)


# --------------------------------------------------------------------------------------
# Disagreements: (id, containers, mutate(layout) -> "header" | "data" (the file named),
#                 needles(layout) -> the two values the message must name)
# --------------------------------------------------------------------------------------
def _length(lay: Layout) -> tuple[str, str]:
    """The two numbers of a length disagreement: what the header declares, what is there."""
    offset = int(lay.get("vox_offset"))
    pair = lay.get("magic")[1:2] == b"i"
    start = offset if pair else max(offset, lay.sizeof + 4)
    shape = [lay.get("dim", i) for i in range(1, lay.get("dim", 0) + 1)]
    declared = start + int(np.prod(shape)) * lay.get("bitpix") // 8
    actual = len(lay.data) if pair else len(lay.head) + len(lay.data)
    return f"expected {declared} bytes", f"has {actual} bytes"


def _vox_offset_plus_16(lay):
    lay.set("vox_offset", lay.offset + 16)  # the data are still at the old offset
    return "data"


def _vox_offset_minus_16_with_padding(lay):
    """16 more bytes before the data, but vox_offset points at them."""
    if lay.get("magic")[1:2] == b"i":  # a pair: in the .img
        lay.data[:0] = b"\x00" * 16
    else:
        lay.head += b"\x00" * 16
    return "data"


def _vox_offset_plus_4(lay):
    lay.set("vox_offset", lay.offset + 4)
    return "data"


def _vox_offset_end_of_header_data_there(lay):
    """A NIfTI-1 draft-era file: vox_offset 348 and the data right after the 348 bytes (the
    standard reads vox_offset < 352 as 352); the same with 540 in a NIfTI-2 file."""
    lay.set("vox_offset", lay.sizeof)
    del lay.head[lay.sizeof :]
    lay.offset = lay.sizeof
    return "data"


def _extend(n):
    def mutate(lay):
        lay.data += bytes(range(n % 256)) + b"\x01" * (n - n % 256)
        return "data"
    return mutate


def _truncate(n):
    def mutate(lay):
        del lay.data[-n:]
        return "data"
    return mutate


def _set_dim(i, value):
    def mutate(lay):
        lay.set("dim", value, i)
        return "data"
    return mutate


def _datatype(code):
    def mutate(lay):
        lay.set("datatype", code)
        return "header"
    return mutate


def _datatype_and_bitpix(code, bitpix):
    def mutate(lay):
        lay.set("datatype", code).set("bitpix", bitpix)
        return "data"
    return mutate


def _bitpix(value):
    def mutate(lay):
        lay.set("bitpix", value)
        return "header"
    return mutate


def _dim0(value):
    def mutate(lay):
        lay.set("dim", value, 0)
        return "header"
    return mutate


def _beyond_dim0(i, value):
    def mutate(lay):
        lay.set("dim", value, i)
        return "header"
    return mutate


def _negative_dim(lay):
    lay.set("dim", -6, 2)
    return "header"


def _sizeof_swapped(lay):
    other = ">" if lay.endian == "<" else "<"
    struct.pack_into(other + "i", lay.head, 0, lay.sizeof)
    return "header"


def _intercept(value):
    def mutate(lay):
        lay.set("scl_slope", 2.0).set("scl_inter", value)
        return "header"
    return mutate


def _pair_with_single_magic(lay):
    lay.set("magic", b"n+1\x00" if lay.version == 1 else b"n+2\x00")
    return "header"


def _esize(value):
    def mutate(lay):
        struct.pack_into(lay.endian + "i", lay.head, lay.sizeof + 4, value)
        return "header"
    return mutate


ALL, SINGLE, PAIRS = CONTAINERS, [".nii", ".nii.gz"], [".hdr", ".hdr.gz"]
DISAGREEMENTS = [
    # vox_offset against the header, the extensions and the file
    ("vox_offset-after-the-data-start", ALL, _vox_offset_plus_16, _length),
    ("vox_offset-not-a-multiple-of-16", ALL, _vox_offset_plus_4, _length),
    ("data-after-vox_offset-by-16", ALL, _vox_offset_minus_16_with_padding, _length),
    ("vox_offset-348-data-at-348", SINGLE, _vox_offset_end_of_header_data_there,
     lambda lay: (*_length(lay), f"vox_offset {lay.sizeof} is below {lay.sizeof + 4}, which the NIfTI standard "
                                 f"reads as {lay.sizeof + 4}")),
    # data size (dims x bitpix/8) against the file: shorter and longer
    ("file-1-byte-longer", ALL, _extend(1), _length),
    ("file-16-bytes-longer", ALL, _extend(16), _length),
    ("file-one-volume-longer", ALL, _extend(NBYTES // 4), _length),
    ("file-1-byte-shorter", ALL, _truncate(1), _length),
    ("file-one-volume-shorter", ALL, _truncate(NBYTES // 4), _length),
    ("dim4-one-less", ALL, _set_dim(4, 3), _length),
    ("dim4-one-more", ALL, _set_dim(4, 5), _length),
    ("dim1-zero", ALL, _set_dim(1, 0), _length),
    ("datatype-and-bitpix-int16", ALL, _datatype_and_bitpix(4, 16), lambda lay: (*_length(lay), "int16")),
    # datatype against bitpix
    ("bitpix-16-for-float32", ALL, _bitpix(16), lambda lay: ("datatype 16 (float32)", "bitpix=16")),
    ("bitpix-64-for-float32", ALL, _bitpix(64), lambda lay: ("datatype 16 (float32)", "bitpix=64")),
    ("datatype-int16-bitpix-32", ALL, _datatype(4), lambda lay: ("datatype 4 (int16)", "bitpix=32")),
    ("datatype-float64-bitpix-32", ALL, _datatype(64), lambda lay: ("datatype 64 (float64)", "bitpix=32")),
    # dim[0] against the dims it uses
    ("dim0-3-with-4-volumes", ALL, _dim0(3), lambda lay: ("dim[0]=3", "dim[4]=4")),
    ("dim0-2", ALL, _dim0(2), lambda lay: ("dim[0]=2", "dim[3]=7")),
    ("dim6-3-beyond-dim0-4", ALL, _beyond_dim0(6, 3), lambda lay: ("dim[0]=4", "dim[6]=3")),
    ("dim5-minus-1-beyond-dim0-4", ALL, _beyond_dim0(5, -1), lambda lay: ("dim[0]=4", "dim[5]=-1")),
    ("dim0-0", ALL, _dim0(0), lambda lay: ("dim[0]=0", "1..7")),
    ("dim0-8", ALL, _dim0(8), lambda lay: ("dim[0]=", "8", "1..7")),  # 2048 in the other byte order
    ("dim0-negative", ALL, _dim0(-1), lambda lay: ("dim[0]=-1", "1..7")),
    ("negative-dim2", ALL, _negative_dim, lambda lay: ("dim[2]=-6", "dim[0]=4")),
    # byte order: sizeof_hdr written in the other byte order than dim[0]
    ("sizeof_hdr-other-byte-order", ALL, _sizeof_swapped,
     lambda lay: (f"sizeof_hdr={lay.sizeof}", "dim[0]=4", "little-endian", "big-endian")),
    # scaling: a usable slope with an intercept that is not a number
    ("slope-2-intercept-nan", ALL, _intercept(np.nan), lambda lay: ("scl_slope=2.0", "scl_inter=nan")),
    ("slope-2-intercept-inf", ALL, _intercept(-np.inf), lambda lay: ("scl_slope=2.0", "scl_inter=-inf")),
    # a pair's header whose magic says the data are in the header file
    ("pair-header-with-single-file-magic", PAIRS, _pair_with_single_magic,
     lambda lay: ("header of a .hdr/.img pair", f"magic 'n+{lay.version}'")),
]


def _cases():
    for cid, containers, mutate, needles in DISAGREEMENTS:
        for version in (1, 2):
            for endian in ("<", ">"):
                for container in containers:
                    if endian == ">" and container not in (".nii", ".hdr.gz"):
                        continue  # big-endian in two containers is enough
                    yield pytest.param(cid, version, endian, container, mutate, needles,
                                       id=f"{cid}-nifti{version}-{'le' if endian == '<' else 'be'}{container}")


def _check_refused(path: str, named: str, needles) -> None:
    """The load/read, a fit and a transform all raise the same error; nothing is returned."""
    with raises(InconsistentImageError, ValueError, named, *needles) as info:
        _read(path)
    assert isinstance(info.value, OSError)
    masker = NiftiMasker()
    with raises(InconsistentImageError, ValueError, named, *needles):
        masker.fit(path)
    assert not hasattr(masker, "mask_img_"), "a failed fit left the masker fitted"
    fitted = NiftiMasker(_mask()).fit()
    out = None
    with raises(InconsistentImageError, ValueError, named, *needles):
        out = fitted.transform(path)
    assert out is None


@pytest.mark.parametrize("cid, version, endian, container, mutate, needles", list(_cases()))
def test_disagreements_are_refused_naming_the_file_and_both_values(tmp_path, cid, version, endian, container,
                                                                 mutate, needles):
    lay = layout(version, container, endian)
    which = mutate(lay)
    path, hdr, data = lay.write(tmp_path, container)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NimaskDataWarning)  # e.g. "vox_offset not a multiple of 16"
        _check_refused(path, hdr if which == "header" else data, needles(lay))


# --------------------------------------------------------------------------------------
# Extensions: esize must be a positive multiple of 16; running past vox_offset is ignored
# --------------------------------------------------------------------------------------
EXTENSION = b"an extension text of 20+ bytes"  # nibabel pads it to 48 bytes (esize 48)


@pytest.mark.parametrize("esize", [20, 40, -16, 8], ids=lambda e: f"esize{e}")
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("version", [1, 2])
def test_malformed_extension_size_is_refused(tmp_path, version, container, esize):
    lay = layout(version, container, extension=EXTENSION)
    _esize(esize)(lay)
    path, hdr, _ = lay.write(tmp_path, container)
    _check_refused(path, hdr, (f"esize={esize}", "positive multiple of 16"))


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("version", [1, 2])
def test_extension_running_past_vox_offset_is_ignored_as_the_standard_says(tmp_path, version, container):
    """Standard: "If a malformed file indicates that an extended header data section would run
    past vox_offset, then the entire extended header section should be ignored" (.hdr: past
    its end). The data are located by vox_offset: read exactly, with a warning."""
    lay = layout(version, container, extension=EXTENSION)
    _esize(64)(lay)  # 48 bytes are there
    path, hdr, _ = lay.write(tmp_path, container)
    with pytest.warns(NimaskDataWarning, match="esize=64.*runs past .*ignored") as rec:
        img = image.load_img(path)
    assert hdr in str(rec[0].message)
    assert len(img.header.extensions) == 0
    np.testing.assert_array_equal(np.asarray(img.dataobj), DATA)


@pytest.mark.parametrize("flag", [b"\x01\x00\x00\x00", b"\x7f\xff\xff\xff"], ids=["flag1", "garbage-flag"])
@pytest.mark.parametrize("container", CONTAINERS)
def test_extension_flag_without_room_for_an_extension_warns_and_reads_exactly(tmp_path, container, flag):
    lay = layout(1, container)
    if container.startswith(".hdr"):
        lay.head += b"\x00" * 4  # nibabel writes a 348-byte .hdr: add the extension bytes
    lay.head[348:352] = flag
    path, hdr, _ = lay.write(tmp_path, container)
    with pytest.warns(NimaskDataWarning, match="extension flag .* no room") as rec:
        got = _read(path)
    assert hdr in str(rec[0].message)
    np.testing.assert_array_equal(got, DATA)


@pytest.mark.parametrize("container", CONTAINERS)
def test_reserved_extension_bytes_are_ignored(tmp_path, container):
    """Only extension[0] is specified; bytes 1..3 are reserved for future use."""
    lay = layout(1, container)
    if container.startswith(".hdr"):
        lay.head += b"\x00" * 4
    lay.head[349:352] = b"\xff\x12\x34"
    path, _, _ = lay.write(tmp_path, container)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NimaskDataWarning)
        np.testing.assert_array_equal(_read(path), DATA)


# --------------------------------------------------------------------------------------
# Readings the NIfTI standard defines: read that way, the values are the true ones
# --------------------------------------------------------------------------------------
def _vox_offset(value):
    def mutate(lay):
        lay.set("vox_offset", value)
    return mutate


def _scaling(slope, inter):
    def mutate(lay):
        lay.set("scl_slope", slope).set("scl_inter", inter)
    return mutate


def _beyond_zero(lay):
    for i in range(5, 8):
        lay.set("dim", 0, i)


def _img_with_leading_bytes(lay):
    lay.set("vox_offset", 48)
    lay.data[:0] = b"DICM" * 12  # bytes before vox_offset in a .img are unregulated


STANDARD = [
    # "If vox_offset is less than 352 in a .nii file, it is equivalent to 352" (544 for NIfTI-2)
    ("vox_offset-0-in-a-single-file", SINGLE, _vox_offset(0), None),
    ("vox_offset-348-data-at-352", SINGLE, _vox_offset(348), None),
    # "If the scl_slope field is nonzero ..." : 0 is no scaling (and niftilib reads NaN as 0)
    ("slope-0-intercept-5", ALL, _scaling(0.0, 5.0), None),
    ("slope-nan-intercept-5", ALL, _scaling(np.nan, 5.0), None),
    ("slope-2-intercept-1", ALL, _scaling(2.0, 1.0), lambda d: d.astype(np.float64) * 2 + 1),
    # dim[i] beyond dim[0] is not part of the image; 0 (unset) and 1 are accepted
    ("dims-beyond-dim0-zero", ALL, _beyond_zero, None),
    # a .img may hold other bytes before vox_offset
    ("img-with-bytes-before-vox_offset", PAIRS, _img_with_leading_bytes, None),
]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("cid, containers, mutate, expect", STANDARD, ids=[c[0] for c in STANDARD])
def test_standard_readings_give_the_true_values(tmp_path, cid, containers, mutate, expect, version, container):
    if container not in containers:
        pytest.skip(f"{cid} concerns {containers}")
    lay = layout(version, container)
    mutate(lay)
    path, _, _ = lay.write(tmp_path, container)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NimaskDataWarning)
        got = _read(path)
        signals = NiftiMasker(_mask()).fit_transform(path)
    want = DATA if expect is None else expect(DATA)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(signals, want[np.asarray(_mask().dataobj) > 0].T.astype(signals.dtype))


def test_vox_offset_not_a_multiple_of_16_is_read_where_it_points_with_a_warning(tmp_path):
    """The standard says vox_offset *should* be a multiple of 16 (SPM memory-maps); a file whose
    data really start at 356 is consistent and read there, with nibabel's warning."""
    lay = Layout(1)
    lay.set("vox_offset", 356)
    lay.head += b"\x00" * 4
    path, _, _ = lay.write(tmp_path, ".nii")
    with pytest.warns(NimaskDataWarning, match="not divisible by 16"):
        np.testing.assert_array_equal(_read(path), DATA)


# --------------------------------------------------------------------------------------
# gzip: ISIZE is a hint at load; a stream it does not settle is measured once at load
# --------------------------------------------------------------------------------------
def test_gzip_isize_matching_the_header_is_trusted_at_load(tmp_path, monkeypatch):
    """The fast path: the trailer agrees with the header, nothing is decompressed at load."""
    from nimask import _nifti_io

    lay = Layout(1)
    path, _, _ = lay.write(tmp_path, ".nii.gz")
    measured = []
    monkeypatch.setattr(_nifti_io._ByteStream, "count_to_end", lambda *a: measured.append(a) or (0, True))
    img = image.load_img(path)
    assert measured == []
    np.testing.assert_array_equal(np.asarray(img.dataobj[..., 1]), DATA[..., 1])


def test_multimember_gzip_is_measured_at_load_and_read_exactly(tmp_path):
    """Several gzip members (bgzip, concatenated files): ISIZE is the last member's only, so
    the stream is measured at load; a consistent file reads exactly, a longer one is refused."""
    lay = Layout(1)
    raw = bytes(lay.head + lay.data)
    path = tmp_path / "multi.nii.gz"
    path.write_bytes(gzip.compress(raw[:500], mtime=0) + gzip.compress(raw[500:], mtime=0))
    img = image.load_img(str(path))
    np.testing.assert_array_equal(np.asarray(img.dataobj[..., 2]), DATA[..., 2])
    np.testing.assert_array_equal(np.asarray(img.dataobj), DATA)
    doubled = tmp_path / "doubled.nii.gz"
    doubled.write_bytes(gzip.compress(raw, mtime=0) + gzip.compress(bytes(lay.data), mtime=0))
    with raises(InconsistentImageError, ValueError, str(doubled), f"expected {len(raw)} bytes",
                f"has {len(raw) + NBYTES} bytes"):
        image.load_img(str(doubled))


def test_gzip_isize_agreeing_by_construction_is_caught_at_the_end_of_the_stream(tmp_path):
    """A last member whose ISIZE happens to equal the declared length (the file's first member
    repeated): the load trusts the hint, and the first full read refuses the longer stream."""
    lay = Layout(1)
    raw = bytes(lay.head + lay.data)
    path = tmp_path / "twice.nii.gz"
    path.write_bytes(gzip.compress(raw, mtime=0) * 2)
    img = image.load_img(str(path))
    with raises(InconsistentImageError, ValueError, str(path), f"has {2 * len(raw)} bytes"):
        np.asarray(img.dataobj)
    out = None
    with raises(InconsistentImageError, ValueError, str(path), f"{len(raw)} bytes after the data"):
        out = NiftiMasker(_mask()).fit_transform(str(path))
    assert out is None


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_images_loaded_by_nibabel_are_checked_at_the_end_of_the_stream(tmp_path, ext):
    """A nibabel image of a file with bytes after the data (nibabel reads it silently): the
    masker's streamed read refuses it when the file does not end with the data."""
    lay = Layout(1)
    lay.data += b"\x00" * 64
    path, _, _ = lay.write(tmp_path, ext)
    nib_img = nib.load(path)
    np.testing.assert_array_equal(np.asarray(nib_img.dataobj), DATA)  # nibabel: no word
    out = None
    with raises(InconsistentImageError, ValueError, path, "64 bytes after the data"):
        out = NiftiMasker(_mask()).fit_transform(nib_img)
    assert out is None


# --------------------------------------------------------------------------------------
# Batch: the run fails with the error named in the failures file and writes no output
# --------------------------------------------------------------------------------------
def test_batch_run_with_a_longer_gzip_stream_writes_no_output(tmp_path):
    import pandas as pd

    from nimask.__main__ import main
    from nimask.datasets import write_bids_derivatives

    data = write_bids_derivatives(tmp_path, subjects=("01", "02"), shape=(8, 9, 8), n_volumes=20, n_regions=4)
    bad = Path(data["runs"][1])
    raw = gzip.decompress(bad.read_bytes())
    bad.write_bytes(gzip.compress(raw + b"\x00" * 16, mtime=0))  # 16 bytes more than the header says
    out = tmp_path / "out"
    argv = ["extract", str(data["root"]), str(out), "--atlas", str(data["labels"]), "--strategy", "motion6", "-q"]
    assert main(argv) == 1
    failures = pd.read_csv(out / "nimask_failures.tsv", sep="\t")
    assert len(failures) == 1 and "sub-02" in failures["run"][0]
    assert failures["error_type"][0] == "InconsistentImageError"
    assert bad.name in failures["error"][0] and "bytes after the data" in failures["error"][0]
    written = [p.name for p in out.rglob("*") if p.is_file() and "sub-02" in p.name]
    assert written == [], written
    assert not [p for p in out.rglob("*") if p.name.endswith(".nimask-tmp")]
    assert len(list(out.rglob("*_timeseries.tsv"))) == 1  # sub-01 done


def test_layout_cases_are_consistent_before_mutation(tmp_path):
    """The builders themselves: each unmutated container reads back exactly, for both versions."""
    for version in (1, 2):
        for container in CONTAINERS:
            lay = layout(version, container)
            path, _, _ = lay.write(tmp_path, container, name=f"ok{version}")
            with warnings.catch_warnings():
                warnings.simplefilter("error", NimaskDataWarning)
                np.testing.assert_array_equal(_read(path), DATA)
            os.remove(path)
