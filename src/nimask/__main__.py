"""Command-line entry point: ``nimask extract``, ``nimask group`` and ``nimask demo`` (also ``python -m nimask``).

Exit codes: 0 every output done (or already done), 1 some runs or strategies failed (see
``OUTPUT_DIR/nimask_failures.tsv``) or the output folder's bookkeeping (manifest, failures
file) could not be written (disk full: the message names the file), 2 usage error (bad option, nothing to do), 128 + the
signal number when stopped by SIGINT (130) or SIGTERM (143): the finished runs are kept and
the same command resumes the others.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEMO_DIR = "nimask-demo"  # `nimask demo` writes here (in the current folder) unless given --out-dir


def _setup_logging(quiet: bool, verbose: int, log_file: str | None) -> None:
    logger = logging.getLogger("nimask")
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                                  logging.INFO if verbose else logging.WARNING))
    console.setFormatter(logging.Formatter("nimask: %(message)s"))
    logger.addHandler(console)
    if log_file:
        Path(log_file).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(fh)


def _extract(args) -> int:
    from .batch import extract_batch, parse_atlas, parse_spheres, parse_strategy
    from .exceptions import BatchInterrupted, NimaskError, OutputWriteError

    _setup_logging(args.quiet, args.verbose, args.log_file)
    log = logging.getLogger("nimask.batch")
    try:
        atlases = [parse_atlas(a) for a in args.atlas] + [parse_spheres(s) for s in args.spheres]
        strategies = [parse_strategy(s) for s in args.strategy]
        summary = extract_batch(
            args.bids_dir, args.output_dir, atlases, strategies, space=args.space, task=args.task,
            participant_label=args.participant_label, n_jobs=args.n_jobs, dask_scheduler=args.dask_scheduler,
            progress=not args.quiet and not args.no_progress, overwrite=args.overwrite,
            allow_no_mask=args.allow_no_mask, strict=args.strict, t_r=args.t_r, censor=args.censor,
            qc=args.qc, connectome=args.connectome, fisher_z=args.fisher_z,
            min_coverage=args.min_coverage,
        )
    except OutputWriteError as exc:  # the manifest or failures file: the batch cannot record its runs
        print(f"nimask extract: error: {exc} The batch stopped; runs not recorded as done in the manifest are "
              f"redone by the next 'nimask extract'.", file=sys.stderr)
        return EXIT_FAILED
    except (NimaskError, OSError) as exc:  # bad options, nothing to do, unreachable scheduler
        log.error("%s", exc)
        return EXIT_USAGE
    except BatchInterrupted as exc:
        import signal

        s = exc.summary
        finished = f"{len(s.done) + len(s.skipped)} of {s.n_runs} runs finished" if s else "no run finished"
        print(f"nimask extract: interrupted by {signal.Signals(exc.signum).name}: {finished}; run the same "
              f"command again to resume the others.", file=sys.stderr)
        return exc.exit_code
    if not args.quiet:
        print(f"nimask extract: {summary.n_runs} runs: {len(summary.done)} done, {len(summary.skipped)} already "
              f"done, {len(summary.failed_runs)} failed ({summary.wall_s:.2f} s; peak worker RSS "
              f"{summary.peak_rss_mb:.0f} MB)")
        if summary.failed:
            _report_failures(summary, args.bids_dir)
            print(f"  failures recorded in {os.path.join(args.output_dir, 'nimask_failures.tsv')}")
    _report_warnings(summary, args.bids_dir, args.verbose)
    return summary.exit_code


def _report_failures(summary, bids_dir: str, limit: int = 20) -> None:
    """One line per failure: the run (relative to the inputs), and the strategy when only that
    strategy's outputs failed (the run's other outputs are written, or were already done)."""
    from .batch.runner import describe_failure

    root = os.path.abspath(bids_dir)
    for rec in summary.failed[:limit]:
        what = describe_failure(rec)
        what = "the run" if what == "run" else f"{what} (only its outputs)"
        print(f"  FAILED {os.path.relpath(rec['run'], root)}: {what}: {rec.get('error_type')}: "
              f"{_shorten(str(rec.get('error', '')))}")
    if len(summary.failed) > limit:
        print(f"  ... and {len(summary.failed) - limit} more failures")


def _shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _report_warnings(summary, bids_dir: str, verbose: int) -> None:
    """Every warning of the runs done now reaches the console (stderr), even with -q: counted per
    kind (warning category) with an example, or listed one by one with -v."""
    root = os.path.abspath(bids_dir)
    where = lambda run: os.path.relpath(run, root)  # noqa: E731
    items = summary.warnings
    if items:
        n_runs = len({w["run"] for w in items})
        print(f"nimask extract: {len(items)} warning{'s' if len(items) > 1 else ''} in {n_runs} of "
              f"{len(summary.done)} runs done (also in each output's JSON sidecar, \"Warnings\"):", file=sys.stderr)
        if verbose:
            for w in items:
                print(f"  {where(w['run'])}: {w['category']}: {' '.join(w['message'].split())}", file=sys.stderr)
        else:
            for category, (n, runs) in summary.warning_counts().items():
                first = next(w for w in items if w["category"] == category)
                print(f"  {n} x {category} ({runs} run{'s' if runs > 1 else ''}), e.g. {where(first['run'])}: "
                      f"{_shorten(first['message'])}", file=sys.stderr)
            print("  -v lists every warning; --strict makes a run with warnings fail.", file=sys.stderr)
    if summary.earlier_warnings:
        n = len(summary.earlier_warnings)
        print(f"nimask extract: {n} run{'s' if n > 1 else ''} already done had warnings when "
              f"{'they were' if n > 1 else 'it was'} done (see their JSON sidecars; --strict fails such runs)"
              f"{':' if verbose else '.'}", file=sys.stderr)
        if verbose:
            for run, ws in summary.earlier_warnings.items():
                for w in ws:
                    print(f"  {where(run)}: {w['category']}: {' '.join(w['message'].split())}", file=sys.stderr)


def _demo(out_dir: str | None) -> int:
    from . import __version__
    from .batch import extract_batch, parse_atlas, parse_spheres, parse_strategy
    from .datasets import write_bids_derivatives

    # No temporary folder: the sample data, the outputs and the report stay together in one folder
    # that the demo prints (rerunning the demo regenerates the data and replaces its own outputs).
    directory = Path(out_dir or DEMO_DIR).absolute()
    print(f"nimask {__version__} demo: a synthetic fMRIPrep derivatives tree in {directory}")
    t0 = time.perf_counter()
    data = write_bids_derivatives(directory, subjects=("01", "02"), sessions=("1", "2"), shape=(24, 28, 22),
                                  n_volumes=100, n_regions=10)
    print(f"  wrote {len(data['runs'])} runs (2 subjects x 2 sessions, 24x28x22 voxels x 100 volumes, int16 and "
          f"float32) with masks, confounds and sidecars ({time.perf_counter() - t0:.2f} s)")
    atlases = [parse_atlas(f"{data['labels']},lut={data['lut']}"),
               parse_atlas(f"{data['maps']},lut={data['maps_lut']}"),
               parse_spheres(f"{data['spheres']},radius=6")]
    strategies = [parse_strategy("motion24+wm_csf"), parse_strategy("motion6+gsr+scrub0.5")]
    out = directory / "nimask"
    print(f"  nimask extract {data['root']} {out} \\\n      --atlas {data['labels'].name} --atlas "
          f"{data['maps'].name} --spheres {data['spheres'].name},radius=6 \\\n      --strategy motion24+wm_csf "
          f"--strategy motion6+gsr+scrub0.5 --qc --connectome correlation")
    # a demo extracts every time: the record of an earlier demo's outputs in this folder is dropped (the sample
    # data were rewritten with the same content, so they would all be finished), and overwrite replaces them
    (out / ".nimask" / "manifest.jsonl").unlink(missing_ok=True)
    summary = extract_batch(data["root"], out, atlases, strategies, progress=False, overwrite=True, qc=True,
                            connectome="correlation")
    n_files = sum(len(r["outputs"]) for r in summary.done)
    print(f"  {len(summary.done)} runs x {len(atlases)} atlases x {len(strategies)} strategies: {n_files} files "
          f"({summary.wall_s:.2f} s, each run read once; peak RSS {summary.peak_rss_mb:.0f} MB)")
    for rec in summary.done[:1]:
        t = rec["timings"]
        print(f"    one run: fit atlases {t['fit_s']:.3f} s, read+extract {t['read_extract_s']:.3f} s, "
              f"clean+write {t['clean_write_s']:.3f} s")
        for rel in rec["outputs"][:4]:
            print(f"    {rel}")
        print("    ...")
    again = extract_batch(data["root"], out, atlases, strategies, progress=False, qc=True, connectome="correlation")
    print(f"  rerun: {len(again.skipped)} runs already done, {len(again.done)} redone ({again.wall_s:.2f} s)")
    _demo_group(out)
    _demo_report(data, directory)
    if summary.failed:
        print(f"  {len(summary.failed_runs)} runs FAILED: see {out / 'nimask_failures.tsv'}")
        return EXIT_FAILED
    return EXIT_OK


def _demo_group(out: Path) -> None:
    """The group step on the demo's outputs: QC tables, QC-FC and tangent connectomes, the QC page."""
    from .batch import group_outputs

    t0 = time.perf_counter()
    print(f"  nimask group {out} --tangent")
    group = group_outputs(out, tangent=True)
    print(f"  {len(group.runs)} runs x {len(group.atlases)} atlases x {len(group.strategies)} strategies: "
          f"{len(group.files)} group files ({time.perf_counter() - t0:.2f} s); strategies compared in "
          f"{out / 'group' / 'qc.html'}")


def _demo_report(data: dict, directory: Path) -> None:
    """Look at the data: a labels masker on the first run, and its HTML report (needs matplotlib)."""
    from .batch import find_runs
    from .maskers import NiftiLabelsMasker

    run = find_runs(data["root"])[0]
    t0 = time.perf_counter()
    masker = NiftiLabelsMasker(str(data["labels"]), lut=str(data["lut"]), mask_img=run.mask, detrend=True,
                               standardize="zscore_sample")
    signals = masker.fit_transform(run.bold)
    print(f"  NiftiLabelsMasker on {Path(run.bold).name}: {signals.shape[0]} volumes x {signals.shape[1]} regions "
          f"({time.perf_counter() - t0:.2f} s)")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("  (no HTML report: install nimask[plotting] to have matplotlib)")
        return
    t0 = time.perf_counter()
    path = masker.generate_report(title="nimask demo: NiftiLabelsMasker").save_as_html(directory / "report.html")
    print(f"  wrote an HTML report of the regions, coverage and signals ({time.perf_counter() - t0:.2f} s): {path}")


def _group(args) -> int:
    from .batch import group_outputs
    from .exceptions import NimaskError, OutputWriteError

    try:
        summary = group_outputs(args.output_dir, tangent=args.tangent, atlases=args.atlas, strategies=args.strategy,
                                out=args.out)
    except OutputWriteError as exc:
        print(f"nimask group: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (NimaskError, OSError) as exc:  # no outputs, unknown atlas or strategy
        print(f"nimask group: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.quiet:
        print("\n".join(summary.lines(warnings=False)))
    for w in summary.warnings:
        print(f"nimask group: warning: {w}", file=sys.stderr)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="nimask", description="Fast NIfTI maskers and batch region extraction.")
    parser.add_argument("--version", action="version", version=f"nimask {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the batch extraction on built-in synthetic data")
    demo.add_argument("--out-dir", default=None,
                      help=f"folder for the sample data, the outputs and report.html (default: ./{DEMO_DIR})")

    gr = sub.add_parser(
        "group", help="group tables, QC-FC, tangent connectomes and an HTML QC page of a finished batch",
        description="Read the outputs of 'nimask extract' in OUTPUT_DIR (time series, and the per-run QC tables of "
                    "--qc) and write under OUTPUT_DIR/group: desc-<S>_qc.tsv per strategy, QC-FC per atlas x strategy "
                    "(atlas-<A>_desc-<S>_qcfc.tsv/.json) with qcfc_summary.tsv, tangent connectomes with --tangent, "
                    "and qc.html. Exit codes: 0 done, 1 a file could not be written, 2 no outputs / bad option.",
    )
    gr.add_argument("output_dir", help="output folder of 'nimask extract'")
    gr.add_argument("--tangent", action="store_true",
                    help="also write per-run tangent-space connectivity matrices and their group mean")
    gr.add_argument("--atlas", action="append", default=None, metavar="NAME", help="only this atlas; repeatable")
    gr.add_argument("--strategy", action="append", default=None, metavar="LABEL",
                    help="only this strategy (its desc- label or preset spelling); repeatable")
    gr.add_argument("--out", default=None, help="write here instead of OUTPUT_DIR/group")
    gr.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")

    ex = sub.add_parser(
        "extract", help="region time series of every run of an fMRIPrep derivatives tree",
        description="Read each *_desc-preproc_bold.nii[.gz] once and write one _timeseries.tsv (+ .json) per run x "
                    "atlas x strategy, and a _coverage.tsv per run x atlas. Reruns compute only the outputs not "
                    "finished (a new atlas or strategy, a failed one). Exit codes: 0 all done, 1 some runs or "
                    "strategies failed (or the output folder could not be written), 2 usage error, 130/143 stopped by "
                    "SIGINT/SIGTERM (finished outputs kept; rerun to resume).",
    )
    ex.add_argument("bids_dir", help="fMRIPrep output folder (holding sub-*/)")
    ex.add_argument("output_dir", help="output folder (BIDS derivatives)")
    ex.add_argument("--atlas", action="append", default=[],
                    metavar="IMG[,name=N][,lut=TSV][,kind=labels|maps][,min_coverage=F]",
                    help="labels (3D) or maps (4D) atlas; repeatable")
    ex.add_argument("--spheres", action="append", default=[], metavar="TSV[,name=N][,radius=MM][,min_coverage=F]",
                    help="sphere centres (x, y, z in mm, optional name column); repeatable")
    ex.add_argument("--strategy", action="append", default=[], metavar="PRESET|JSON",
                    help="denoising strategy: '+'-joined tokens among motion6, motion12, motion24, wm_csf, wm_csf4, "
                         "gsr, gsr4, scrub<FD> (e.g. motion24+wm_csf+scrub0.5); a nilearn preset with options (simple, "
                         "scrubbing,fd_threshold=0.2, compcor,n_compcor=5, ica_aroma: denoises the run's "
                         "desc-smoothAROMAnonaggr_bold image); giga:<name> (giga_connectome) or "
                         "xcpd:<name> (xcp_d); or a JSON file; repeatable")
    ex.add_argument("--space", default=None, help="keep runs of this space- entity")
    ex.add_argument("--task", default=None, help="keep runs of this task- entity")
    ex.add_argument("--participant-label", nargs="+", default=None, help="keep these subjects")
    ex.add_argument("--n-jobs", type=int, default=1, help="local worker processes (default 1)")
    ex.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                    help="run the per-run tasks on this Dask distributed scheduler (e.g. tcp://host:8786)")
    ex.add_argument("--overwrite", action="store_true",
                    help="replace existing output files that no earlier run of the same inputs and options "
                         "wrote (without it, such a run fails naming the file); finished outputs of the same "
                         "inputs and options are still skipped")
    ex.add_argument("--allow-no-mask", action="store_true",
                    help="extract a run that has no desc-brain_mask without a mask (every voxel of the field of "
                         "view enters the regions; a warning, and MaskMissing in its sidecars); without it such a "
                         "run fails naming the mask file looked for")
    ex.add_argument("--strict", action="store_true",
                    help="a run that gives any warning fails (exit code 1; none of its outputs is kept or "
                         "marked finished); a run done earlier with warnings is recorded as failed")
    ex.add_argument("--t-r", type=float, default=None, metavar="SECONDS",
                    help="repetition time of every run in seconds, instead of each run's sidecar RepetitionTime "
                         "(or header pixdim[4])")
    ex.add_argument("--censor", choices=("drop", "zero", "interpolate"), default="drop",
                    help="what becomes of the volumes a scrub<FD> strategy censors: drop removes them (nilearn's "
                         "behaviour, the default); zero keeps every volume with the censored ones set to 0; "
                         "interpolate keeps every volume with the censored ones interpolated (before filtering). "
                         "The regression is fitted on the kept volumes in every mode")
    ex.add_argument("--connectome", default=None, metavar="KINDS",
                    help="also write, next to each time series, its connectome of each kind of this comma-separated "
                         "list (correlation, partial_correlation, covariance, precision) as "
                         "_meas-<Measure>_relmat.tsv + .json (nilearn's ConnectivityMeasure, Ledoit-Wolf; on the "
                         "kept volumes)")
    ex.add_argument("--fisher-z", action="store_true",
                    help="write the correlation and partial correlation connectomes as Fisher z (arctanh)")
    ex.add_argument("--qc", action="store_true",
                    help="also write, per run and strategy, _desc-<strategy>_qc.tsv + .json: framewise displacement, "
                         "censored volumes, DVARS before and after denoising, FD-DVARS correlation, degrees of "
                         "freedom, tSNR (holds the run's brain-mask voxels while it is read); 'nimask group' "
                         "compares strategies from them")
    ex.add_argument("--min-coverage", type=float, default=None, metavar="F",
                    help="a region with less than fraction F (in [0, 1]) of itself inside the run's brain mask "
                         "becomes an n/a column, the reason in the coverage table and in the sidecar's "
                         "RegionsExcluded. Labels: fraction of the region's atlas volume kept on the run's grid; "
                         "maps: of the map's summed absolute weight (one column per map, then); spheres: of the "
                         "sphere's voxels. Applies to every atlas without its own min_coverage=F. Unlike xcp_d's "
                         "--min-coverage (default 0.5), nimask's default is no threshold (nilearn's output)")
    ex.add_argument("-q", "--quiet", action="store_true",
                    help="no progress bar; errors and the summary of warnings only")
    ex.add_argument("-v", "--verbose", action="count", default=0,
                    help="log each run and list every warning at the end (-vv: debug)")
    ex.add_argument("--no-progress", action="store_true", help="no progress bar")
    ex.add_argument("--log-file", default=None, help="also log (debug level) to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args.out_dir)
    if args.command == "group":
        return _group(args)
    if args.command == "extract":
        if not args.atlas and not args.spheres:
            print("nimask extract: error: give at least one --atlas or --spheres", file=sys.stderr)
            return EXIT_USAGE
        if not args.strategy:
            print("nimask extract: error: give at least one --strategy", file=sys.stderr)
            return EXIT_USAGE
        return _extract(args)
    return EXIT_USAGE  # pragma: no cover - argparse already rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
