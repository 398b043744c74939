"""Fuzzing harness for nimask's NIfTI loader: a mutated file is refused or read exactly.

Each input is a small valid NIfTI file (NIfTI-1/2, .nii/.nii.gz, .hdr/.img pairs plain or
gzipped, little/big endian, scaled integers, with a header extension) mutated by a few random
operations: header fields set to edge values, the fields that locate and size the data
(vox_offset, dim, bitpix, datatype, sizeof_hdr, extension sizes) set to values near their own,
bytes flipped, the file truncated or extended (by a few bytes, by a volume), gzip damage,
renamed suffixes. The file is loaded with ``nimask.image.load_img``, its data are read and a
``NiftiMasker`` transform is run on it. The outcome is one of:

* a nimask error (``NimaskError``): allowed;
* an *escape*: any other exception (numpy, nibabel, zlib, MemoryError, ...);
* a success whose values are the file's true content (the array the seed was written from);
* a success whose values are what the mutated file itself says, read by the harness's own
  minimal reader of the standard (:func:`standard_reading`), when that file is self-consistent
  (a flipped data byte, a slope, a datatype of the same size: there is nothing to detect);
* otherwise a *silent mis-read*: values that are neither, returned without an error. Like an
  escape, it is a failure: the input is saved and reported.

Run for a given time (random mutations, reproducible with ``--seed``)::

    python tests/reliability/fuzz_loader.py --seconds 60 [--seed 0] [--out fuzz-failures/]

The suite runs a bounded hypothesis version (``test_reliability_fuzz.py``).
"""
from __future__ import annotations

import argparse
import gzip
import math
import os
import random
import struct
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass

import nibabel as nib
import numpy as np

# header fields of a NIfTI-1 header: (offset, struct format)
NIFTI1_FIELDS = [
    (0, "i"), (40, "h"), (42, "h"), (44, "h"), (46, "h"), (48, "h"), (50, "h"), (70, "h"), (72, "h"),
    (76, "f"), (80, "f"), (84, "f"), (88, "f"), (92, "f"), (108, "f"), (112, "f"), (116, "f"),
    (123, "B"), (252, "h"), (254, "h"), (256, "f"), (260, "f"), (264, "f"), (268, "f"), (272, "f"),
    (276, "f"), (280, "f"), (284, "f"), (292, "f"), (296, "f"), (308, "f"), (320, "f"), (344, "4s"),
    (348, "4s"), (352, "i"), (356, "i"),
]
EDGE_INTS = [0, 1, -1, 2, 3, 4, 5, 7, 8, 9, 16, 64, 128, 255, 256, 511, 512, 768, 1024, 1536, 2048, 2304,
             32767, -32768, 65535, 2**31 - 1, -(2**31), 348, 352, 540, 10**6]
EDGE_FLOATS = [0.0, -0.0, 1.0, -1.0, 2.0, 1e-30, 1e30, 1e38, -1e38, float("nan"), float("inf"),
               float("-inf"), 352.0, 353.0, 1e9, -352.0, 3.4e38]
MAGICS = [b"n+1\x00", b"ni1\x00", b"n+2\x00", b"xxxx", b"\x00\x00\x00\x00"]

# The fields that locate, size and type the data, per NIfTI version: name -> (offset, format)
LAYOUT_FIELDS = {
    1: {"sizeof_hdr": (0, "i"), "dim": (40, "h"), "datatype": (70, "h"), "bitpix": (72, "h"),
        "vox_offset": (108, "f"), "scl_slope": (112, "f"), "scl_inter": (116, "f"), "magic": (344, "4s")},
    2: {"sizeof_hdr": (0, "i"), "magic": (4, "4s"), "datatype": (12, "h"), "bitpix": (14, "h"),
        "dim": (16, "q"), "vox_offset": (168, "q"), "scl_slope": (176, "d"), "scl_inter": (184, "d")},
}
SIZEOF = {1: 348, 2: 540}
# datatype codes of real scalar data (NIfTI standard) -> numpy type
DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8", 1280: "u8"}
OTHER_CODES = [0, 1, 32, 128, 1536, 1792, 2048, 2304, 3, 17, 4096]


@dataclass
class Seed:
    """A valid input: ``suffix`` (.nii, .nii.gz, .hdr, .hdr.gz), the uncompressed bytes of the
    single file or of the .hdr (``head``) and of the .img (``img``, pairs only), and the values
    a correct reader returns (``truth``)."""

    suffix: str
    head: bytes
    img: bytes | None
    truth: np.ndarray

    @property
    def pair(self) -> bool:
        return self.img is not None


def _pair_parts(img) -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "p.hdr")
        nib.save(img, path)
        with open(path, "rb") as fh, open(path[:-4] + ".img", "rb") as fi:
            return fh.read(), fi.read()


def seed_files() -> list[Seed]:
    """Small valid files to mutate."""
    rng = np.random.default_rng(0)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    run = (rng.standard_normal((5, 4, 3, 3)) * 10).astype(np.float32)
    seeds = []
    one = nib.Nifti1Image(run, affine)
    seeds.append(Seed(".nii", one.to_bytes(), None, run))
    seeds.append(Seed(".nii.gz", one.to_bytes(), None, run))
    big = nib.Nifti1Image(run, affine, header=nib.Nifti1Header(endianness=">"))
    seeds.append(Seed(".nii", big.to_bytes(), None, run))
    seeds.append(Seed(".nii.gz", big.to_bytes(), None, run))
    ints = np.rint(run * 10).astype(np.int16)
    scaled = nib.Nifti1Image(ints, affine)
    scaled.header.set_slope_inter(0.5, 3.0)
    seeds.append(Seed(".nii.gz", scaled.to_bytes(), None, ints * np.float64(0.5) + 3.0))
    ext = nib.Nifti1Image(run[..., 0], affine)
    ext.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"fuzz comment 1234"))
    seeds.append(Seed(".nii", ext.to_bytes(), None, run[..., 0]))
    two = nib.Nifti2Image(run.astype(np.float64), affine)
    seeds.append(Seed(".nii.gz", two.to_bytes(), None, run.astype(np.float64)))
    seeds.append(Seed(".nii", two.to_bytes(), None, run.astype(np.float64)))
    two_ext = nib.Nifti2Image(ints, affine, header=nib.Nifti2Header(endianness=">"))
    two_ext.header.extensions.append(nib.nifti1.Nifti1Extension(4, b"<afni>extension text</afni>"))
    seeds.append(Seed(".nii", two_ext.to_bytes(), None, ints))
    hdr, img = _pair_parts(nib.Nifti1Pair(run, affine))
    seeds.append(Seed(".hdr", hdr, img, run))
    seeds.append(Seed(".hdr.gz", hdr, img, run))
    hdr, img = _pair_parts(nib.Nifti2Pair(ints[..., :2], affine, header=nib.Nifti2Header(endianness=">")))
    seeds.append(Seed(".hdr", hdr, img, ints[..., :2]))
    return seeds


# --------------------------------------------------------------------------------------
# The harness's own reading of the standard (independent of nimask and nibabel)
# --------------------------------------------------------------------------------------
def _version(head: bytes) -> int | None:
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return 1
    if len(head) >= 540 and head[4:8] in (b"n+2\x00", b"ni2\x00"):
        return 2
    return None


def _byte_order(head: bytes, version: int) -> str | None:
    off, fmt = LAYOUT_FIELDS[version]["dim"]
    for endian in "<>":
        if 1 <= struct.unpack_from(endian + fmt, head, off)[0] <= 7:
            return endian
    return None


def standard_reading(head: bytes, img: bytes | None) -> np.ndarray | None:
    """The values a file describes when its header agrees with itself and with the file, read
    as the NIfTI standard says; None when it does not (or holds no real scalar data).

    ``head`` is the whole single file (uncompressed), or the .hdr of a pair with ``img`` the
    .img. Extensions are skipped (the data are at vox_offset).
    """
    version = _version(head)
    if version is None:
        return None
    endian = _byte_order(head, version)
    if endian is None:
        return None
    fields = LAYOUT_FIELDS[version]

    def get(name, index=0):
        off, fmt = fields[name]
        return struct.unpack_from(endian + fmt, head, off + index * struct.calcsize(fmt))[0]

    other = ">" if endian == "<" else "<"
    if get("sizeof_hdr") != SIZEOF[version] and struct.unpack_from(other + "i", head, 0)[0] == SIZEOF[version]:
        return None  # byte orders disagree
    single = img is None  # a pair's magic inside a single file is read as a single file
    if not single and head[fields["magic"][0] + 1 : fields["magic"][0] + 2] == b"+":
        return None  # a single file's magic in a pair's header: which file holds the data?
    dims = [get("dim", i) for i in range(8)]
    shape = dims[1 : dims[0] + 1]
    if any(d < 0 for d in shape) or any(d not in (0, 1) for d in dims[dims[0] + 1 :]):
        return None
    code, bitpix = get("datatype"), get("bitpix")
    if code not in DTYPES or np.dtype(DTYPES[code]).itemsize * 8 != bitpix:
        return None
    dtype = np.dtype(endian + DTYPES[code])
    offset = get("vox_offset")
    if not math.isfinite(offset) or offset != int(offset) or offset < 0:
        return None
    start = max(int(offset), SIZEOF[version] + 4) if single else int(offset)
    payload = head if single else img
    nbytes = math.prod(shape) * dtype.itemsize
    if len(payload) != start + nbytes:
        return None
    data = np.frombuffer(payload, dtype, count=math.prod(shape), offset=start).reshape(shape, order="F")
    slope, inter = get("scl_slope"), get("scl_inter")
    if slope != 0 and math.isfinite(slope):
        if not math.isfinite(inter):
            return None
        return data * np.float64(slope) + np.float64(inter)
    return data


def _same(got, want) -> bool:
    """Same values (NaN equal NaN) and shape, up to trailing axes of length 1 beyond 3D."""
    if want is None:
        return False
    a, b = np.asarray(got), np.asarray(want)

    def trim(shape):
        shape = list(shape)
        while len(shape) > 3 and shape[-1] == 1:
            shape.pop()
        return tuple(shape)

    if trim(a.shape) != trim(b.shape):
        return False
    if a.size == 0:
        return True
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return bool(np.allclose(a, b, rtol=1e-6, atol=0, equal_nan=True))


def _masked(reading: np.ndarray, out_dtype) -> np.ndarray:
    """What ``NiftiMasker(all-ones mask).fit_transform`` returns for these values."""
    data = np.asarray(reading, dtype=np.float64)
    data = np.where(np.isfinite(data), data, 0.0)
    if data.ndim == 3:
        return data.reshape(-1).astype(out_dtype)
    return data.reshape(-1, data.shape[-1]).T.astype(out_dtype)


# --------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------
def _mutate_layout(head: bytearray, img: bytearray | None, rnd: random.Random) -> str | None:
    """Set one field that locates, sizes or types the data to a value near its own (in the
    file's byte order, sometimes the other), or change the data's length; return a label."""
    version = _version(bytes(head))
    if version is None:
        return None
    endian = _byte_order(bytes(head), version) or "<"
    if rnd.random() < 0.1:
        endian = ">" if endian == "<" else "<"
    fields = LAYOUT_FIELDS[version]
    payload = img if img is not None else head
    what = rnd.choice(["vox_offset", "dim", "dim", "bitpix", "datatype", "datatype_bitpix", "sizeof_hdr",
                       "esize", "flag", "scaling", "length", "length", "insert"])
    if what in ("length", "insert"):
        itemsize = max(1, struct.unpack_from(endian + fields["bitpix"][1], head, fields["bitpix"][0])[0] // 8)
        k = rnd.choice([1, 2, 4, 8, 16, itemsize, 60 * itemsize, 64, 512])
        if what == "insert":
            at = len(payload) - rnd.randrange(1, max(2, len(payload) // 2))
            payload[at:at] = bytes(rnd.randrange(256) for _ in range(k))
            return f"insert{k}@{at}"
        if rnd.random() < 0.5:
            del payload[max(0, len(payload) - k) :]
            return f"cut{k}"
        payload += bytes(rnd.randrange(256) for _ in range(k)) if rnd.random() < 0.5 else b"\x00" * k
        return f"append{k}"
    if what == "esize":
        pos = SIZEOF[version] + 4
        if len(head) < pos + 4:
            return None
        value = rnd.choice([0, 8, 16, 17, 20, 24, 32, 48, 64, 256, -16, 10**6])
        struct.pack_into(endian + "i", head, pos, value)
        return f"esize={value}"
    if what == "flag":
        pos = SIZEOF[version]
        if len(head) < pos + 4:
            return None
        value = rnd.choice([b"\x00\x00\x00\x00", b"\x01\x00\x00\x00", b"\x7f\x00\x00\x00", b"\x00\xff\x12\x34"])
        head[pos : pos + 4] = value
        return f"flag={value!r}"
    if what == "sizeof_hdr":
        struct.pack_into(rnd.choice("<>") + "i", head, 0, rnd.choice([SIZEOF[version], SIZEOF[3 - version], 0]))
        return "sizeof_hdr"
    if what == "scaling":
        off, fmt = fields[rnd.choice(["scl_slope", "scl_inter"])]
        value = rnd.choice([0.0, 1.0, -1.0, 2.0, 0.5, float("nan"), float("inf"), -float("inf"), 1e30])
        struct.pack_into(endian + fmt, head, off, value)
        return f"scaling@{off}={value}"
    if what == "datatype_bitpix":
        code = rnd.choice(list(DTYPES))
        struct.pack_into(endian + "h", head, fields["datatype"][0], code)
        struct.pack_into(endian + "h", head, fields["bitpix"][0], np.dtype(DTYPES[code]).itemsize * 8)
        return f"datatype+bitpix={code}"
    off, fmt = fields[what]
    index = rnd.randrange(8) if what == "dim" else 0
    off += index * struct.calcsize(fmt)
    old = struct.unpack_from(endian + fmt, head, off)[0]
    if what == "datatype":
        value = rnd.choice(list(DTYPES) + OTHER_CODES)
    elif what == "bitpix":
        value = rnd.choice([8, 16, 24, 32, 64, 128, 0, int(old) // 2, int(old) * 2])
    elif what == "vox_offset":
        value = rnd.choice([0, 16, 348, 352, 540, 544, 1e9, -16]) if rnd.random() < 0.3 else \
            old + rnd.choice([-16, -8, -4, -1, 1, 4, 8, 16, 32, 480])
    else:  # dim
        value = rnd.choice([0, 1, -1, 2, 8]) if rnd.random() < 0.3 else old + rnd.choice([-2, -1, 1, 2, old])
    try:
        struct.pack_into(endian + fmt, head, off, value)
    except struct.error:
        return None
    return f"{what}[{index}]={value}" if what == "dim" else f"{what}={value}"


def mutate(seed: Seed, rnd: random.Random) -> tuple[str, dict[str, bytes], list[str], bytes, bytes | None]:
    """Apply 1-3 random mutations; return (suffix, {file suffix: bytes as written}, description,
    mutated uncompressed head, mutated uncompressed img)."""
    suffix = seed.suffix
    compressed = suffix.endswith(".gz")
    head = bytearray(seed.head)
    img = bytearray(seed.img) if seed.pair else None
    ops: list[str] = []
    damage = None
    for _ in range(rnd.randint(1, 3)):
        kind = rnd.choice(["field", "field", "layout", "layout", "layout", "flip", "truncate", "extend",
                           "gzip", "rename"])
        body = img if (img is not None and rnd.random() < 0.5) else head
        if kind == "field" and len(head) >= 360:
            off, fmt = rnd.choice(NIFTI1_FIELDS)
            if fmt == "4s":
                value = rnd.choice(MAGICS)
            elif fmt == "f":
                value = rnd.choice(EDGE_FLOATS)
            elif fmt == "B":
                value = rnd.randint(0, 255)
            else:
                value = rnd.choice(EDGE_INTS)
            try:
                struct.pack_into(rnd.choice("<>") + fmt, head, off, value)
                ops.append(f"field@{off}={value!r}")
            except struct.error:
                pass
        elif kind == "layout":
            label = _mutate_layout(head, img, rnd)
            if label:
                ops.append(label)
        elif kind == "flip" and body:
            for _ in range(rnd.randint(1, 8)):
                pos = rnd.randrange(len(body))
                body[pos] ^= 1 << rnd.randrange(8)
            ops.append("flip")
        elif kind == "truncate" and body:
            cut = rnd.randrange(len(body))
            del body[cut:]
            ops.append(f"truncate@{cut}")
        elif kind == "extend":
            body += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
            ops.append("extend")
        elif kind == "gzip":
            compressed = True
            damage = rnd.choice(["crc", "isize", "deflate", "cut", "garbage", "members"])
            ops.append(f"gzip:{damage}")
        elif kind == "rename" and not seed.pair:
            suffix = ".nii" if suffix.endswith(".gz") else ".nii.gz"
            ops.append(f"rename->{suffix}")
    if seed.pair:
        gz = ".gz" if suffix.endswith(".gz") else ""
        parts = {".hdr" + gz: bytes(head), ".img" + gz: bytes(img)}
    else:
        parts = {suffix: bytes(head)}
    files = {}
    for name, raw in parts.items():
        if not compressed:
            files[name] = raw
            continue
        out = bytearray(gzip.compress(raw, mtime=0))
        if damage == "members" and len(raw) > 2:
            cut = rnd.randrange(1, len(raw))
            out = bytearray(gzip.compress(raw[:cut], mtime=0) + gzip.compress(raw[cut:], mtime=0))
        elif damage and len(out) > 20:
            if damage == "crc":
                out[-8] ^= 0xFF
            elif damage == "isize":
                out[-2] ^= 0x10
            elif damage == "deflate":
                out[rnd.randrange(10, len(out) - 8)] ^= 0xFF
            elif damage == "cut":
                out = out[: rnd.randrange(len(out))]
            elif damage == "garbage":
                out += b"\x00garbage"
        files[name] = bytes(out)
    return suffix, files, ops, bytes(head), (bytes(img) if img is not None else None)


# --------------------------------------------------------------------------------------
# One input
# --------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """``kind``: "error" (a NimaskError), "true" (the true values), "consistent" (the values the
    self-consistent mutated file describes), "escape" or "misread"; ``detail`` for failures."""

    kind: str
    detail: str = ""
    exc: BaseException | None = None


def write_input(files: dict[str, bytes], suffix: str, workdir: str) -> str:
    """Write the input's files; return the path to load (the single file, or the .hdr)."""
    for name in os.listdir(workdir):
        if name.startswith("input"):
            os.remove(os.path.join(workdir, name))
    for name, raw in files.items():
        with open(os.path.join(workdir, "input" + name), "wb") as fh:
            fh.write(raw)
    return os.path.join(workdir, "input" + suffix)


def _escape(exc: BaseException) -> Outcome:
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    return Outcome("escape", f"{type(exc).__name__}: {exc}"[:300], exc)


def check(files: dict[str, bytes], suffix: str, workdir: str, truth: np.ndarray | None = None,
          head: bytes | None = None, img: bytes | None = None) -> Outcome:
    """Load + read + mask one input and judge the values against the truth and the file.

    ``truth`` is the seed's true array; ``head``/``img`` the mutated uncompressed bytes (for
    :func:`standard_reading`). Without ``truth`` only escapes are looked for.
    """
    from nimask import image
    from nimask.exceptions import NimaskError
    from nimask.maskers import NiftiMasker

    path = write_input(files, suffix, workdir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            loaded = image.load_img(path)
            data = np.asarray(loaded.dataobj)
        except NimaskError as exc:
            return Outcome("error", exc=exc)
        except BaseException as exc:  # noqa: BLE001 - an escape is what we look for
            return _escape(exc)
        kind, want = "true", truth
        if truth is not None and not _same(data, truth):
            kind, want = "consistent", (standard_reading(head, img) if head is not None else None)
            if not _same(data, want):
                return Outcome("misread", f"load_img: shape {data.shape} {data.dtype}, neither the true values "
                                          f"{np.asarray(truth).shape} nor what the file says")
        if want is not None:  # the values read, in the image's own shape (e.g. 3D + a trailing axis of 1)
            want = np.asarray(want).reshape(data.shape)
        shape = loaded.shape[:3]
        if len(loaded.shape) not in (3, 4) or not 0 < int(np.prod(shape)) <= 10**6:
            return Outcome(kind)
        try:
            mask = nib.Nifti1Image(np.ones(shape, np.uint8), loaded.affine)
            signals = NiftiMasker(mask).fit_transform(path)
        except NimaskError:
            return Outcome(kind)
        except BaseException as exc:  # noqa: BLE001
            return _escape(exc)
    if want is not None and not _same(signals, _masked(want, signals.dtype)):
        return Outcome("misread", f"NiftiMasker: signals {signals.shape} differ from the values read")
    return Outcome(kind)


def run(seconds: float, seed: int = 0, out: str | None = None, verbose: bool = True) -> dict:
    """Fuzz for ``seconds``; return the counts and the failures (escapes, silent mis-reads)."""
    rnd = random.Random(seed)
    seeds = seed_files()
    stats = {"inputs": 0, "errors": 0, "true": 0, "consistent": 0, "escapes": [], "misreads": []}
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir:
        while time.monotonic() - start < seconds:
            base = rnd.choice(seeds)
            suffix, files, ops, head, img = mutate(base, rnd)
            outcome = check(files, suffix, workdir, base.truth, head, img)
            stats["inputs"] += 1
            if outcome.kind == "error":
                stats["errors"] += 1
            elif outcome.kind in ("true", "consistent"):
                stats[outcome.kind] += 1
            else:
                trace = "".join(traceback.format_exception(outcome.exc))[-2000:] if outcome.exc else ""
                record = {"ops": ops, "suffix": suffix, "seed": base.suffix, "error": outcome.detail,
                          "trace": trace}
                bucket = stats["escapes"] if outcome.kind == "escape" else stats["misreads"]
                bucket.append(record)
                if out:
                    os.makedirs(out, exist_ok=True)
                    n = len(stats["escapes"]) + len(stats["misreads"])
                    for name, raw in files.items():
                        with open(os.path.join(out, f"{outcome.kind}-{n:04d}{name}"), "wb") as fh:
                            fh.write(raw)
                if verbose:
                    print(f"{outcome.kind.upper()} {record['error']} seed={base.suffix} ops={ops}", file=sys.stderr)
    stats["seconds"] = time.monotonic() - start
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for the inputs that escaped or were mis-read")
    args = parser.parse_args(argv)
    stats = run(args.seconds, args.seed, args.out)
    kinds = sorted({e["error"].split(":")[0] for e in stats["escapes"]})
    print(f"{stats['inputs']} inputs in {stats['seconds']:.1f} s: {stats['errors']} nimask errors, "
          f"{stats['true'] + stats['consistent']} read ({stats['true']} true values, {stats['consistent']} "
          f"self-consistent changed files), {len(stats['escapes'])} escapes {kinds}, "
          f"{len(stats['misreads'])} silent mis-reads")
    return 1 if stats["escapes"] or stats["misreads"] else 0


if __name__ == "__main__":
    sys.exit(main())
