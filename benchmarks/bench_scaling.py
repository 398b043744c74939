"""Memory and scaling: the marginal cost of outputs in one read, and growth with the data.

Run: ``.venv/bin/python benchmarks/bench_scaling.py [--quick] [--repeat N] [marginal] [growth]``.

(a) **marginal cost** (one read, many outputs): ``nimask.batch.extract_batch`` with 1 worker on ONE run
(sub-01 of ``bench_batch.py``'s fMRIPrep tree, 300 volumes int16 MNI 2 mm) with 1, 2, 4, 8 atlases x 1, 2, 4
strategies, each cell in its own process, best of ``--repeat`` (default 3) round-robin rounds. Atlases, in
order: Harvard-Oxford cortical max-prob 2 mm, AAL (resampled), 100 spheres of 6 mm (no overlap: the batch
refuses it), then labels atlases
derived from them (``_data/scaling/atlases``): HO split left/right, AAL split anterior/posterior, a grid of
8-voxel cubes in the brain mask, HO split inferior/superior, AAL split inferior/superior. Strategies:
``motion6``, ``motion24``, ``motion6+wm_csf``, ``motion24+wm_csf+scrub0.5``. Printed: the wall time grid,
the cost of each extra atlas (at 1 strategy) and each extra strategy (at 1 atlas) as % of the 1 x 1 wall time
(target <= 10%), and the mean cost per extra output over the grid.

(b) **growth**: wall time and peak RSS (``VmHWM``) for 100, 300, 1000 and 3000 volumes of labels HO, spheres
100 x 6 mm, maps HO (113 maps, resampled to the 2 mm grid once, untimed, as ``bench_maps_spheres.py`` does),
NiftiMasker (given brain mask), the isal decompression floor, and a 1 mm grid (labels HO resampled at fit,
and its floor; 100 and 300 volumes). Each case in its own process, best of ``--repeat-growth`` (default 1).
Data: the 300-volume run is ``gen_bold.py``'s; ``gen_bold.py`` holds the whole run in float32 (3000 volumes:
~11 GB), so the other lengths are made from the 300 run's volumes: its first 100, or 1000 / 3000 volumes
running through it forwards and backwards (no jump at the joins); the 1 mm runs are the 2 mm volumes
upsampled by separable linear interpolation (the 1 mm grid of the same MNI box, 182x218x182). All are
written with gzip level 1 (nibabel's default) and cached in ``benchmarks/_data/growth``.

``--quick``: 1 round, 1-2 atlases x 1-2 strategies, 100 and 300 volumes, 1 mm grid at 100 volumes.
Figures: ``benchmarks/_results/scaling.json``.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import DATA_DIR, REPO, bench_data, bench_file, run_case  # noqa: E402

SCALING = os.path.join(DATA_DIR, "scaling")
ATLAS_DIR = os.path.join(SCALING, "atlases")
GROWTH = os.path.join(DATA_DIR, "growth")
MASK = "tpl-MNI152NLin6Asym_res-02_desc-brain_mask.nii.gz"
HO = "HarvardOxford-cort-maxprob-thr25-2mm.nii.gz"
AAL = "atlas_aal.nii.gz"
ATLASES = ("HO", "AAL", "sph100", "HOlr", "AALap", "grid8", "HOis", "AALis")
STRATEGIES = ("motion6", "motion24", "motion6+wm_csf", "motion24+wm_csf+scrub0.5")
N_ATLASES = (1, 2, 4, 8)
N_STRATEGIES = (1, 2, 4)
VOLUMES = (100, 300, 1000, 3000)
VOLUMES_1MM = (100, 300)
GROWTH_CASES = ("floor", "labels", "spheres", "maps", "nifti")
_STATE: dict = {}


# ---------------------------------------------------------------- (a) marginal cost


def _atlas_path(name: str) -> str:
    return os.path.join(ATLAS_DIR, f"{name}.tsv" if name == "sph100" else f"{name}.nii.gz")


def prepare_atlases() -> None:
    """The derived atlases and the spheres TSV (once)."""
    import nibabel as nib
    import numpy as np
    from bench_maps_spheres import _seeds

    os.makedirs(ATLAS_DIR, exist_ok=True)
    if not os.path.exists(_atlas_path("sph100")):  # the batch refuses overlapping spheres: >= 14 mm apart
        picked: list = []
        for seed in np.asarray(_seeds(1000, 0)):
            if len(picked) < 100 and all(np.linalg.norm(seed - q) >= 14.0 for q in picked):
                picked.append(seed)
        with open(_atlas_path("sph100"), "w") as fh:
            fh.write("x\ty\tz\n" + "".join(f"{x}\t{y}\t{z}\n" for x, y, z in picked))
    for name, src in (("HOlr", HO), ("HOis", HO), ("AALap", AAL), ("AALis", AAL), ("grid8", MASK)):
        path = _atlas_path(name)
        if os.path.exists(path):
            continue
        img = nib.load(bench_file(src))
        lab = np.asarray(img.dataobj).astype(np.int32)
        i, j, k = np.indices(lab.shape)
        if name == "grid8":  # 8-voxel cubes inside the brain mask, numbered 1..K
            cube = (i // 8) * 10000 + (j // 8) * 100 + k // 8 + 1
            _, out = np.unique(np.where(lab > 0, cube, 0), return_inverse=True)
            out = out.reshape(lab.shape)
        else:
            half = {"lr": i >= lab.shape[0] // 2, "is": k >= lab.shape[2] // 2, "ap": j >= lab.shape[1] // 2}[name[-2:]]
            out = np.where(lab > 0, lab * 2 + half, 0)
        nib.Nifti1Image(out.astype(np.int32), img.affine).to_filename(path)


def _specs():
    from nimask.batch import parse_atlas, parse_spheres, parse_strategy

    atlases = []
    for name in ATLASES:
        if name == "HO":
            atlases.append(parse_atlas(f"{bench_file(HO)},name=HO"))
        elif name == "AAL":
            atlases.append(parse_atlas(f"{bench_file(AAL)},name=AAL,lut={bench_file('labels_aal.csv')}"))
        elif name == "sph100":
            atlases.append(parse_spheres(f"{_atlas_path(name)},name={name},radius=6"))
        else:
            atlases.append(parse_atlas(f"{_atlas_path(name)},name={name}"))
    return atlases, [parse_strategy(s) for s in STRATEGIES]


def _batch_setup(n_atlas: int, n_strategy: int) -> None:
    import nimask.batch  # noqa: F401

    atlases, strategies = _specs()
    out_dir = os.path.join(SCALING, "out", f"a{n_atlas}_s{n_strategy}")
    shutil.rmtree(out_dir, ignore_errors=True)
    _STATE.update(atlases=atlases[:n_atlas], strategies=strategies[:n_strategy], out_dir=out_dir)


def _batch() -> None:
    from bench_batch import TREE

    from nimask.batch import extract_batch

    summary = extract_batch(TREE, _STATE["out_dir"], _STATE["atlases"], _STATE["strategies"], n_jobs=1,
                            progress=False, participant_label=["01"])
    assert summary.exit_code == 0 and len(summary.done) == 1, summary.failed


for _a in N_ATLASES:
    for _s in N_STRATEGIES:
        globals()[f"batch_a{_a}_s{_s}_setup"] = (lambda a, s: lambda: _batch_setup(a, s))(_a, _s)
        globals()[f"batch_a{_a}_s{_s}"] = _batch


def marginal(quick: bool, repeat: int) -> dict:
    import bench_batch

    bench_batch.SUBJECTS = ("01",)
    bench_batch.prepare()
    prepare_atlases()
    n_a = N_ATLASES[:2] if quick else N_ATLASES
    n_s = N_STRATEGIES[:2] if quick else N_STRATEGIES
    cells = [(a, s) for a in n_a for s in n_s]
    wall: dict = {}
    rss: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(repeat):
            for a, s in cells:
                r = run_case(f"a{a}_s{s}", f"bench_scaling:batch_a{a}_s{s}", False, tmp)
                print(f"  round {rnd + 1}/{repeat} {a} atlas(es) x {s} strateg(ies): {r.wall_s:7.2f} s "
                      f"{r.peak_rss_mb:6.0f} MB", flush=True)
                wall[a, s] = min(wall.get((a, s), float("inf")), r.wall_s)
                rss[a, s] = max(rss.get((a, s), 0.0), r.peak_rss_mb)
    t11 = wall[1, 1]
    print(f"\nmarginal cost: extract_batch, 1 worker, one run (300 volumes int16 MNI 2 mm), best of {repeat}; "
          f"wall s (peak RSS MB)")
    print(f"{'':<12}" + "".join(f"{f'{s} strateg.':>18}" for s in n_s))
    for a in n_a:
        print(f"{f'{a} atlas(es)':<12}" + "".join(f"{f'{wall[a, s]:.2f} ({rss[a, s]:.0f})':>18}" for s in n_s))
    curve = {"atlas": [], "strategy": []}
    print("each extra atlas, at 1 strategy (% of the 1 x 1 wall time; target <= 10%):")
    for prev, a in zip(n_a, n_a[1:]):
        pct = 100 * (wall[a, 1] - wall[prev, 1]) / (a - prev) / t11
        curve["atlas"].append({"from": prev, "to": a, "pct": pct, "atlases": list(ATLASES[prev:a])})
        print(f"  {prev} -> {a} atlases ({', '.join(ATLASES[prev:a])}): {pct:+6.1f}% each "
              f"{'PASS' if pct <= 10 else 'FAIL'}")
    print("each extra strategy, at 1 atlas:")
    for prev, s in zip(n_s, n_s[1:]):
        pct = 100 * (wall[1, s] - wall[1, prev]) / (s - prev) / t11
        curve["strategy"].append({"from": prev, "to": s, "pct": pct, "strategies": list(STRATEGIES[prev:s])})
        print(f"  {prev} -> {s} strategies ({', '.join(STRATEGIES[prev:s])}): {pct:+6.1f}% each "
              f"{'PASS' if pct <= 10 else 'FAIL'}")
    per_output = {f"{a}x{s}": 100 * (wall[a, s] - t11) / (a * s - 1) / t11 for a, s in cells if a * s > 1}
    print("each extra output (atlas x strategy) over the grid, % of 1 x 1: "
          + ", ".join(f"{k} {v:+.1f}%" for k, v in per_output.items()))
    return {"repeat": repeat, "wall_s": {f"{a}x{s}": wall[a, s] for a, s in cells},
            "peak_rss_mb": {f"{a}x{s}": rss[a, s] for a, s in cells}, "curve": curve, "per_output_pct": per_output,
            "atlases": list(ATLASES), "strategies": list(STRATEGIES)}


# ---------------------------------------------------------------- (b) growth


def growth_path(volumes: int, res: int = 2) -> str:
    if res == 2 and volumes == 300:
        return bench_data()
    return os.path.join(GROWTH, f"{'1mm_' if res == 1 else ''}v{volumes}_bold.nii.gz")


def _order(volumes: int, n_src: int):
    """Volume indices of the source run: its first ``volumes``, or forwards and backwards through it."""
    for t in range(volumes):
        k = t % (2 * n_src)
        yield k if k < n_src else 2 * n_src - 1 - k


def _upsample(vol):
    """2 mm volume -> the 1 mm grid of the same box (2n per axis): separable linear interpolation."""
    import numpy as np

    out = vol.astype(np.float32)
    for axis in range(3):
        a = np.moveaxis(out, axis, 0)
        up = np.empty((2 * a.shape[0],) + a.shape[1:], np.float32)
        up[0::2] = a
        up[1:-1:2] = 0.5 * (a[:-1] + a[1:])
        up[-1] = a[-1]
        out = np.moveaxis(up, 0, axis)
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def make_run(volumes: int, res: int = 2) -> str:
    """Write (once) a run of ``volumes`` volumes from the 300-volume run; see the module docstring."""
    import gzip

    import nibabel as nib
    import numpy as np

    path = growth_path(volumes, res)
    if os.path.exists(path):
        return path
    src = nib.load(bench_data())
    data = np.asanyarray(src.dataobj)
    hdr = src.header.copy()
    affine = src.affine.copy()
    shape = data.shape[:3]
    if res == 1:
        affine[:3, :3] /= 2
        shape = tuple(2 * n for n in shape)
        hdr.set_qform(affine, int(hdr["qform_code"]) or 1)
        hdr.set_sform(affine, int(hdr["sform_code"]) or 1)
    hdr.set_data_shape(shape + (volumes,))
    hdr.set_zooms(tuple(abs(float(z)) for z in np.linalg.norm(affine[:3, :3], axis=0)) + (2.0,))
    hdr.set_data_offset(352)
    os.makedirs(GROWTH, exist_ok=True)
    t0 = time.perf_counter()
    with gzip.open(path + ".part", "wb", compresslevel=1) as fh:
        hdr.write_to(fh)
        fh.write(b"\0" * (352 - fh.tell()))
        for k in _order(volumes, data.shape[3]):
            vol = data[..., k]
            fh.write((_upsample(vol) if res == 1 else vol).tobytes(order="F"))
    os.replace(path + ".part", path)
    check = nib.load(path)
    assert check.shape == shape + (volumes,) and np.array_equal(check.affine, affine), (check.shape, check.affine)
    print(f"  wrote {os.path.relpath(path, REPO)} ({os.path.getsize(path) / 1e6:.0f} MB, "
          f"{time.perf_counter() - t0:.0f} s)", flush=True)
    return path


def _maps_2mm() -> str:
    from bench_maps_spheres import ATLAS, ATLAS_2MM

    if not os.path.exists(ATLAS_2MM):
        import nibabel as nib
        from nilearn.image import resample_to_img

        ref = nib.load(bench_data()).slicer[..., :1]
        resample_to_img(bench_file(ATLAS), ref, interpolation="linear", copy_header=True,
                        force_resample=True).to_filename(ATLAS_2MM)
    return ATLAS_2MM


def _growth_setup(case: str, volumes: int, res: int) -> None:
    import warnings

    warnings.simplefilter("ignore")
    _STATE["path"] = growth_path(volumes, res)
    if case == "floor":
        from isal import isal_zlib  # noqa: F401
    else:
        import nimask.maskers  # noqa: F401
    if case == "spheres":
        from bench_maps_spheres import _seeds

        _STATE["seeds"] = _seeds(100, 0)


def _growth(case: str):
    path = _STATE["path"]
    if case == "floor":
        from _harness import decode_only

        decode_only(path)
        return None
    from nimask import maskers

    if case == "labels":
        masker = maskers.NiftiLabelsMasker(bench_file(HO))
    elif case == "spheres":
        masker = maskers.NiftiSpheresMasker(_STATE["seeds"], radius=6.0, allow_overlap=True)
    elif case == "maps":
        masker = maskers.NiftiMapsMasker(_maps_2mm())
    else:
        masker = maskers.NiftiMasker(mask_img=bench_file(MASK))
    return masker.fit_transform(path)  # returned: alive when the peak RSS is read


for _case in GROWTH_CASES:
    for _v in VOLUMES:
        for _res in (1, 2):
            _name = f"growth_{_case}_{_v}" + ("_1mm" if _res == 1 else "")
            globals()[_name + "_setup"] = (lambda c, v, r: lambda: _growth_setup(c, v, r))(_case, _v, _res)
            globals()[_name] = (lambda c: lambda: _growth(c))(_case)


def growth(quick: bool, repeat: int) -> dict:
    import nibabel as nib
    import numpy as np

    volumes = VOLUMES[:2] if quick else VOLUMES
    volumes_1mm = VOLUMES_1MM[:1] if quick else VOLUMES_1MM
    _maps_2mm()
    for v in volumes:
        make_run(v)
    for v in volumes_1mm:
        make_run(v, res=1)
    n_mask = int((np.asarray(nib.load(bench_file(MASK)).dataobj) > 0).sum())
    plan = [(c, v, 2) for c in GROWTH_CASES for v in volumes] + [(c, v, 1) for c in ("floor", "labels")
                                                                  for v in volumes_1mm]
    wall: dict = {}
    rss: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(repeat):
            for c, v, res in plan:
                name = f"growth_{c}_{v}" + ("_1mm" if res == 1 else "")
                r = run_case(name, f"bench_scaling:{name}", False, tmp)
                print(f"  round {rnd + 1}/{repeat} {name:<26}{r.wall_s:8.2f} s {r.peak_rss_mb:8.0f} MB", flush=True)
                wall[c, v, res] = min(wall.get((c, v, res), float("inf")), r.wall_s)
                rss[c, v, res] = max(rss.get((c, v, res), 0.0), r.peak_rss_mb)
    labels = {"floor": "isal floor", "labels": "labels HO", "spheres": "spheres 100", "maps": "maps HO 113",
              "nifti": "NiftiMasker"}
    print(f"\ngrowth: wall time and peak RSS against the number of volumes, best of {repeat}, each in its own "
          f"process (NiftiMasker: RSS less its float32 output of {n_mask} voxels)")
    print(f"{'case':<22}{'volumes':>8}{'GB raw':>8}{'wall s':>9}{'ms/vol':>8}{'x floor':>8}{'peak MB':>9}"
          f"{'- output':>9}")
    rows = []
    for c, v, res in sorted(wall, key=lambda k: (-k[2], GROWTH_CASES.index(k[0]), k[1])):
        raw = v * (91 * 109 * 91) * (8 if res == 1 else 1) * 2 / 1e9
        less = rss[c, v, res] - v * n_mask * 4 / 2**20 if c == "nifti" else None
        row = {"case": c, "res_mm": res, "volumes": v, "wall_s": wall[c, v, res], "ms_per_volume":
               1000 * wall[c, v, res] / v, "floor_ratio": wall[c, v, res] / wall["floor", v, res],
               "peak_rss_mb": rss[c, v, res], "rss_less_output_mb": less}
        rows.append(row)
        print(f"{labels[c] + (' 1 mm' if res == 1 else ''):<22}{v:>8}{raw:>8.2f}{row['wall_s']:>9.2f}"
              f"{row['ms_per_volume']:>8.2f}{row['floor_ratio']:>8.2f}{row['peak_rss_mb']:>9.0f}"
              f"{'' if less is None else f'{less:.0f}':>9}")
    print("per case, smallest -> largest run: time per volume ratio (linear: 1.0), peak RSS ratio (flat: 1.0; "
          "NiftiMasker: RSS less output)")
    for c in GROWTH_CASES:
        for res in (2, 1):
            vs = sorted(v for cc, v, r in wall if cc == c and r == res)
            if len(vs) < 2:
                continue
            lo, hi = (c, vs[0], res), (c, vs[-1], res)
            per = (wall[hi] / hi[1]) / (wall[lo] / lo[1])
            if c == "nifti":
                mem = (rss[hi] - hi[1] * n_mask * 4 / 2**20) / (rss[lo] - lo[1] * n_mask * 4 / 2**20)
            else:
                mem = rss[hi] / rss[lo]
            print(f"  {labels[c] + (' 1 mm' if res == 1 else ''):<20}{vs[0]} -> {vs[-1]} volumes: time/volume "
                  f"x{per:.2f}, peak RSS x{mem:.2f}")
    return {"repeat": repeat, "rows": rows, "n_mask": n_mask}


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("parts", nargs="*", help="marginal and/or growth (default: both)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=3, help="rounds of the marginal-cost grid (best of N)")
    p.add_argument("--repeat-growth", type=int, default=1, help="rounds of the growth cases (best of N)")
    a = p.parse_args(argv)
    parts = a.parts or ["marginal", "growth"]
    if set(parts) - {"marginal", "growth"}:
        p.error(f"parts are 'marginal' and 'growth'; got {parts}")
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    record: dict = {"quick": a.quick, "cpus": os.cpu_count()}
    if "marginal" in parts:
        record["marginal"] = marginal(a.quick, 1 if a.quick else a.repeat)
    if "growth" in parts:
        record["growth"] = growth(a.quick, 1 if a.quick else a.repeat_growth)
    record["loadavg"] = [load0[0], os.getloadavg()[0]]
    print(f"  {os.cpu_count()} CPUs, load average {load0[0]:.1f} at start, {record['loadavg'][1]:.1f} at end; "
          f"{time.perf_counter() - t0:.0f} s in all")
    os.makedirs(os.path.join(REPO, "benchmarks", "_results"), exist_ok=True)
    with open(os.path.join(REPO, "benchmarks", "_results", "scaling.json"), "w") as fh:
        json.dump(record, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
