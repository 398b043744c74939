"""The HTML page of ``nimask group`` (``group/qc.html``): one self-contained file.

No script, no stylesheet or image file: the plots are PNG images drawn with matplotlib (the
``plotting`` extra; without it the page holds the tables only) and embedded as ``data:`` URIs.
Layout: a comparison of the denoising strategies (table and bar charts, in the manner of the
benchmarks of Ciric et al. 2017 and Parkes et al. 2018), the definitions, then one section per
strategy: the distributions of the per-run QC metrics and, per atlas, the QC-FC distribution,
QC-FC against edge length and the degrees of freedom lost.
"""
from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

__all__ = ["render_page"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;
color:#222;line-height:1.4;padding:0 16px}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:1.8em}
h3{margin-top:1.4em}table{border-collapse:collapse;margin:8px 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f2f2f2}
td.l,th.l{text-align:left}img{max-width:100%;height:auto;display:block;margin:8px 0}
.note{color:#555;font-size:.9em}.warn{color:#8a4b00}dt{font-weight:600}dd{margin:0 0 6px 16px}
nav a{margin-right:12px}
"""

_METRICS = (("mean_fd", "mean FD (mm)"), ("fraction_censored", "fraction censored"),
            ("mean_dvars_before", "mean DVARS before"), ("mean_dvars_after", "mean DVARS after"),
            ("tsnr_median", "median tSNR"), ("dof_left", "dof left"))


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _fmt(v: Any, pct: bool = False) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "n/a"
        return f"{v:.1%}" if pct else f"{v:.3g}"
    return _esc(v)


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig, alt: str) -> str:
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{_png(fig)}">'


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _strip(ax, values: list[float], title: str) -> None:
    vals = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    ax.set_title(title, fontsize=10)
    if not vals.size:
        ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes)
        return
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, vals.size)
    ax.boxplot(vals, positions=[0], widths=0.5, showfliers=False)
    ax.scatter(jitter, vals, s=12, alpha=0.6, color="tab:blue", zorder=3)
    ax.set_xlim(-0.5, 0.5)
    ax.set_xticks([])


def _qc_figure(rows: dict[str, dict[str, float]], dof_lost: list[float]) -> str:
    fig = _figure(12, 2.8)
    axes = fig.subplots(1, len(_METRICS) + 1)
    for ax, (key, title) in zip(axes, _METRICS):
        _strip(ax, [r.get(key, np.nan) for r in rows.values()], title)
    _strip(axes[-1], dof_lost, "dof lost (volumes)")
    return _img(fig, "per-run QC metrics")


def _atlas_figure(atlas: str, info: dict) -> str:
    r, p, dist = info["qcfc"], info["p"], info["distance"]
    ok = np.isfinite(r)
    fig = _figure(12, 3.4)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    ax1.hist(r[ok], bins=40, color="tab:blue", alpha=0.8)
    ax1.axvline(0, color="k", lw=0.8)
    ax1.set_title(f"QC-FC ({ok.sum()} edges): median |r| {np.median(np.abs(r[ok])):.3f}, "
                  f"p<0.05 {np.mean(p[ok] < 0.05):.1%}" if ok.any() else "QC-FC: n/a", fontsize=10)
    ax1.set_xlabel("QC-FC r")
    both = ok & np.isfinite(dist)
    rho = info["row"]["distance_dependence"]
    if both.any():
        many = both.sum() > 2000
        ax2.scatter(dist[both], r[both], s=3 if many else 14, alpha=0.3 if many else 0.8, color="tab:blue",
                    linewidths=0)
        ax2.axhline(0, color="k", lw=0.8)
        ax2.set_title(f"QC-FC vs distance: Spearman rho {rho:.3f}" if np.isfinite(rho) else "QC-FC vs distance",
                      fontsize=10)
    else:
        ax2.text(0.5, 0.5, "no edge lengths", ha="center", va="center", transform=ax2.transAxes)
        ax2.set_title("QC-FC vs distance", fontsize=10)
    ax2.set_xlabel("distance (mm)")
    ax2.set_ylabel("QC-FC r")
    lost = np.asarray(info["fraction_dof_lost"], dtype=np.float64)
    if lost.size:
        ax3.hist(lost, bins=min(20, max(5, lost.size)), color="tab:orange", alpha=0.8)
    ax3.set_title(f"degrees of freedom lost (mean {np.mean(lost):.1%})" if lost.size else "dof lost: n/a",
                  fontsize=10)
    ax3.set_xlabel("fraction of the run's volumes")
    return _img(fig, f"QC-FC of atlas {atlas}")


def _comparison_figure(table: list[dict]) -> str:
    atlases = sorted({r["atlas"] for r in table})
    strategies = list(dict.fromkeys(r["strategy"] for r in table))
    panels = (("median_abs_qcfc", "median |QC-FC|"), ("fraction_p_below_0.05", "fraction of edges p<0.05"),
              ("distance_dependence", "|distance dependence|"), ("mean_fraction_dof_lost", "fraction of dof lost"))
    fig = _figure(12, 3.2)
    axes = fig.subplots(1, len(panels))
    width = 0.8 / max(1, len(atlases))
    for ax, (key, title) in zip(axes, panels):
        for k, atlas in enumerate(atlases):
            vals = []
            for s in strategies:
                row = next((r for r in table if r["atlas"] == atlas and r["strategy"] == s), None)
                v = np.nan if row is None else row[key]
                vals.append(abs(v) if key == "distance_dependence" else v)
            ax.bar(np.arange(len(strategies)) + (k - (len(atlases) - 1) / 2) * width, vals, width, label=atlas)
        ax.set_xticks(np.arange(len(strategies)), strategies, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=8, title="atlas", title_fontsize=8)
    return _img(fig, "comparison of the strategies")


def _summary_table(table: list[dict]) -> str:
    cols = (("atlas", "atlas"), ("strategy", "strategy"), ("n_runs", "runs"), ("n_runs_qcfc", "runs with QC"),
            ("n_regions", "regions"), ("n_regions_excluded", "excluded"), ("median_abs_qcfc", "median |QC-FC|"),
            ("fraction_p_below_0.05", "p<0.05"), ("distance_dependence", "distance dependence"),
            ("mean_dof_lost", "dof lost"), ("mean_fraction_dof_lost", "fraction dof lost"), ("mean_fd", "mean FD"),
            ("mean_fraction_censored", "fraction censored"))
    pct = {"fraction_p_below_0.05", "mean_fraction_dof_lost", "mean_fraction_censored"}
    head = "".join(f'<th class="{"l" if k in ("atlas", "strategy") else ""}">{_esc(t)}</th>' for k, t in cols)
    body = []
    for row in sorted(table, key=lambda r: (r["atlas"], r["strategy"])):
        cells = "".join(f'<td class="{"l" if k in ("atlas", "strategy") else ""}">{_fmt(row[k], k in pct)}</td>'
                        for k, _ in cols)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _qc_table(rows: dict[str, dict[str, float]]) -> str:
    keys = [k for k, _ in _METRICS]
    head = "".join(f"<th>{_esc(t)}</th>" for _, t in _METRICS)
    stats = []
    for label, fn in (("median", np.nanmedian), ("min", np.nanmin), ("max", np.nanmax)):
        cells = []
        for k in keys:
            v = np.asarray([r.get(k, np.nan) for r in rows.values()], dtype=np.float64)
            cells.append(f"<td>{_fmt(float(fn(v))) if np.isfinite(v).any() else 'n/a'}</td>")
        stats.append(f'<tr><td class="l">{label}</td>{"".join(cells)}</tr>')
    return f'<table><thead><tr><th class="l">over {len(rows)} runs</th>{head}</tr></thead>' \
           f"<tbody>{''.join(stats)}</tbody></table>"


_DEFINITIONS = """
<dl>
<dt>QC-FC</dt><dd>For each edge (pair of regions), Pearson's r across runs between the run's mean framewise
displacement (<code>mean_fd</code> of its QC table) and the run's correlation of the two regions' time series;
p two-sided from Student's t with n_runs - 2 degrees of freedom. Computed with at least 3 runs that have a QC table.
A good strategy leaves few edges with p &lt; 0.05 and a median |QC-FC| near 0.</dd>
<dt>Distance dependence</dt><dd>Spearman's rho between QC-FC and the edge length (distance between region
centroids, mm). Motion inflates short-range more than long-range correlations: a good strategy has rho near 0.</dd>
<dt>Degrees of freedom lost</dt><dd>Per run: the volumes censored plus the regressors (confounds, mean and trend,
filter), i.e. <code>NumberOfVolumes - DegreesOfFreedom.Left</code> of the time series sidecar; as a fraction of the
run's volumes. A strategy that removes motion effects at a high cost in degrees of freedom leaves less signal.</dd>
<dt>Regions excluded</dt><dd>A region missing from, with n/a values in (no signal), or constant in any run of an
atlas x strategy is left out of that atlas x strategy's group analysis.</dd>
</dl>
"""


def render_page(data: dict, summary: Any) -> str:
    """The HTML text of ``group/qc.html`` from :func:`nimask.batch.group.group_outputs`'s results."""
    from .. import __version__

    try:
        import matplotlib  # noqa: F401

        plots = True
    except ImportError:  # the tables only
        plots = False
    strategies = data["strategies"]
    parts = [f"<h1>nimask group QC</h1><p class=\"note\">{_esc(summary.output_dir)}: {len(summary.runs)} runs, "
             f"{len(summary.atlases)} atlases, {len(summary.strategies)} strategies; nimask {_esc(__version__)}"
             f"{'' if plots else '; no plots: install nimask[plotting] (matplotlib)'}.</p>"]
    nav = "".join(f'<a href="#s-{_esc(d)}">{_esc(d)}</a>' for d in strategies)
    parts.append(f'<nav><a href="#comparison">comparison</a><a href="#definitions">definitions</a>{nav}</nav>')
    parts.append('<h2 id="comparison">Strategies compared</h2>')
    if data["summary"]:
        parts.append(_summary_table(data["summary"]))
        if plots and any(np.isfinite(r["median_abs_qcfc"]) for r in data["summary"]):
            parts.append(_comparison_figure(data["summary"]))
    else:
        parts.append("<p>No time series.</p>")
    parts.append(f'<h2 id="definitions">Definitions</h2>{_DEFINITIONS}')
    for desc, sd in strategies.items():
        title = desc if sd["name"] == desc else f"{desc} ({sd['name']})"
        parts.append(f'<h2 id="s-{_esc(desc)}">Strategy {_esc(title)}</h2>')
        rows = sd["qc"]
        dof_lost = next((a["dof_lost"] for a in sd["atlases"].values() if a["dof_lost"]), [])
        if rows:
            parts.append(f"<h3>Per-run QC ({len(rows)} runs)</h3>{_qc_table(rows)}")
            if plots:
                parts.append(_qc_figure(rows, dof_lost))
        else:
            parts.append('<p class="warn">No per-run QC tables for this strategy (run <code>nimask extract '
                         '--qc</code>): no QC-FC.</p>')
        for atlas, info in sd["atlases"].items():
            row = info["row"]
            parts.append(f"<h3>Atlas {_esc(atlas)}</h3><p>{row['n_runs']} runs, {row['n_regions']} regions "
                         f"({row['n_regions_excluded']} excluded), mean dof lost {_fmt(row['mean_dof_lost'])} volumes "
                         f"({_fmt(row['mean_fraction_dof_lost'], True)}).</p>")
            if "qcfc" in info:
                parts.append(f"<p>QC-FC over {row['n_runs_qcfc']} runs: median |r| {_fmt(row['median_abs_qcfc'])}, "
                             f"{_fmt(row['fraction_p_below_0.05'], True)} of edges with p &lt; 0.05, distance "
                             f"dependence rho {_fmt(row['distance_dependence'])}.</p>")
                if plots:
                    parts.append(_atlas_figure(atlas, info))
            else:
                parts.append('<p class="warn">QC-FC not computed (fewer than 3 runs with a QC table).</p>')
    if summary.warnings:
        items = "".join(f"<li>{_esc(w)}</li>" for w in summary.warnings)
        parts.append(f'<h2 id="warnings">Warnings</h2><ul class="warn">{items}</ul>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>nimask group QC</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")
