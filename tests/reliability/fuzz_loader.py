"""Fuzzing harness for nimask's NIfTI loader: mutated files may only raise nimask's errors.

Each input is a small valid NIfTI file (NIfTI-1/2, .nii/.nii.gz, little/big endian, scaled
integers, with a header extension) mutated by a few random operations: header fields set to
edge values, random byte flips, truncation, gzip-stream damage, appended garbage. The file is
loaded with ``nimask.image.load_img``, its data are read, and a ``NiftiMasker`` transform is
run on it. Success, or an exception of the ``NimaskError`` family, is allowed; anything else
(a numpy/nibabel/zlib error, a MemoryError, ...) is an *escape*: the input is saved and
reported.

Run for a given time (random mutations, reproducible with ``--seed``)::

    python tests/reliability/fuzz_loader.py --seconds 60 [--seed 0] [--out fuzz-escapes/]

The suite runs a bounded hypothesis version (``test_reliability_fuzz.py``).
"""
from __future__ import annotations

import argparse
import gzip
import os
import random
import struct
import sys
import tempfile
import time
import traceback
import warnings

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


def seed_files() -> list[tuple[str, bytes]]:
    """Small valid files to mutate: (suffix, bytes)."""
    rng = np.random.default_rng(0)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    run = (rng.standard_normal((5, 4, 3, 3)) * 10).astype(np.float32)
    seeds = []
    one = nib.Nifti1Image(run, affine)
    seeds.append((".nii", one.to_bytes()))
    seeds.append((".nii.gz", gzip.compress(one.to_bytes(), mtime=0)))
    big = nib.Nifti1Image(run, affine, header=nib.Nifti1Header(endianness=">"))
    seeds.append((".nii", big.to_bytes()))
    scaled = nib.Nifti1Image(np.rint(run * 10).astype(np.int16), affine)
    scaled.header.set_slope_inter(0.5, 3.0)
    seeds.append((".nii.gz", gzip.compress(scaled.to_bytes(), mtime=0)))
    ext = nib.Nifti1Image(run[..., 0], affine)
    ext.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"fuzz comment 1234"))
    seeds.append((".nii", ext.to_bytes()))
    two = nib.Nifti2Image(run.astype(np.float64), affine)
    seeds.append((".nii.gz", gzip.compress(two.to_bytes(), mtime=0)))
    return seeds


def mutate(raw: bytes, suffix: str, rnd: random.Random) -> tuple[str, bytes, list[str]]:
    """Apply 1-3 random mutations; return (suffix, bytes, description)."""
    compressed = suffix.endswith(".gz")
    body = bytearray(gzip.decompress(raw) if compressed else raw)
    ops = []
    recompress = compressed
    for _ in range(rnd.randint(1, 3)):
        kind = rnd.choice(["field", "field", "field", "flip", "truncate", "extend", "gzip", "rename"])
        if kind == "field" and len(body) >= 360:
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
                struct.pack_into(rnd.choice("<>") + fmt, body, off, value)
                ops.append(f"field@{off}={value!r}")
            except struct.error:
                pass
        elif kind == "flip" and body:
            for _ in range(rnd.randint(1, 8)):
                pos = rnd.randrange(len(body))
                body[pos] ^= 1 << rnd.randrange(8)
            ops.append("flip")
        elif kind == "truncate" and body:
            cut = rnd.randrange(len(body))
            body = body[:cut]
            ops.append(f"truncate@{cut}")
        elif kind == "extend":
            body += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
            ops.append("extend")
        elif kind == "gzip":
            recompress = True
            ops.append("gzip-damage")
        elif kind == "rename":
            suffix = ".nii" if suffix.endswith(".gz") else ".nii.gz"
            ops.append(f"rename->{suffix}")
    out = bytes(body)
    if recompress:
        out = bytearray(gzip.compress(out, mtime=0))
        if "gzip-damage" in ops and len(out) > 20:
            how = rnd.choice(["crc", "isize", "deflate", "cut", "garbage"])
            if how == "crc":
                out[-8] ^= 0xFF
            elif how == "isize":
                out[-2] ^= 0x10
            elif how == "deflate":
                out[rnd.randrange(10, len(out) - 8)] ^= 0xFF
            elif how == "cut":
                out = out[: rnd.randrange(len(out))]
            else:
                out += b"\x00garbage"
            ops.append(f"gzip:{how}")
        out = bytes(out)
    return suffix, out, ops


def check(raw: bytes, suffix: str, workdir: str) -> BaseException | None:
    """Load + read + mask one input; return the escaping exception, or None."""
    from nimask import image
    from nimask.exceptions import NimaskError
    from nimask.maskers import NiftiMasker

    path = os.path.join(workdir, "input" + suffix)
    with open(path, "wb") as fh:
        fh.write(raw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = image.load_img(path)
            np.asarray(img.dataobj)
            shape = img.shape[:3]
            if len(img.shape) in (3, 4) and 0 < int(np.prod(shape)) <= 10**6:
                mask = nib.Nifti1Image(np.ones(shape, np.uint8), img.affine)
                NiftiMasker(mask).fit_transform(path)
    except NimaskError:
        return None
    except BaseException as exc:  # noqa: BLE001 - an escape is what we look for
        if isinstance(exc, KeyboardInterrupt):
            raise
        return exc
    return None


def run(seconds: float, seed: int = 0, out: str | None = None, verbose: bool = True) -> dict:
    """Fuzz for ``seconds``; return counts and the escapes found."""
    rnd = random.Random(seed)
    seeds = seed_files()
    stats = {"inputs": 0, "escapes": []}
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir:
        while time.monotonic() - start < seconds:
            suffix, raw = rnd.choice(seeds)
            suffix, data, ops = mutate(raw, suffix, rnd)
            exc = check(data, suffix, workdir)
            stats["inputs"] += 1
            if exc is not None:
                record = {"ops": ops, "suffix": suffix, "error": f"{type(exc).__name__}: {exc}"[:300],
                          "trace": "".join(traceback.format_exception(exc))[-2000:]}
                stats["escapes"].append(record)
                if out:
                    os.makedirs(out, exist_ok=True)
                    name = os.path.join(out, f"escape-{len(stats['escapes']):04d}{suffix}")
                    with open(name, "wb") as fh:
                        fh.write(data)
                if verbose:
                    print(f"ESCAPE {record['error']} ops={ops}", file=sys.stderr)
    stats["seconds"] = time.monotonic() - start
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for the inputs that escaped")
    args = parser.parse_args(argv)
    stats = run(args.seconds, args.seed, args.out)
    kinds = sorted({e["error"].split(":")[0] for e in stats["escapes"]})
    print(f"{stats['inputs']} inputs in {stats['seconds']:.1f} s, {len(stats['escapes'])} escapes {kinds}")
    return 1 if stats["escapes"] else 0


if __name__ == "__main__":
    sys.exit(main())
