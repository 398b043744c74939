"""HTML pieces of a report: escaped text, tables, embedded images, the page around them."""
from __future__ import annotations

import base64
import html
from collections.abc import Iterable

__all__ = ["esc", "table", "image", "section", "page"]

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0; background: #f4f5f7;
       color: #1d1f23; }
header { background: #1d2733; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; color: #c8d1dc; font-size: 14px; }
main { padding: 8px 28px 40px 28px; max-width: 1200px; }
section { background: #fff; border-radius: 6px; padding: 14px 20px; margin: 16px 0;
          box-shadow: 0 1px 3px rgba(0,0,0,.12); }
h2 { font-size: 18px; margin: 4px 0 12px 0; }
h3 { font-size: 15px; margin: 14px 0 8px 0; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border-bottom: 1px solid #e3e6ea; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #eef1f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.dropped td { color: #a1260d; }
img.figure { max-width: 100%; height: auto; display: block; margin: 8px 0; border-radius: 4px; }
.note { color: #5b6470; font-size: 13px; }
.warn { color: #8a5300; }
ol, ul { margin: 4px 0 4px 20px; padding: 0; font-size: 14px; }
code { background: #eef1f4; padding: 1px 4px; border-radius: 3px; font-size: 12px; }
details summary { cursor: pointer; font-weight: 600; margin: 6px 0; }
"""


def esc(value) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


def table(headers: Iterable[str], rows: Iterable[Iterable], *, numeric: Iterable[int] = (),
          row_classes: Iterable[str] | None = None) -> str:
    """A table; cells are escaped, columns listed in ``numeric`` are right-aligned."""
    numeric = set(numeric)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    classes = list(row_classes) if row_classes is not None else None
    for i, row in enumerate(rows):
        cells = "".join(f'<td class="num">{esc(c)}</td>' if j in numeric else f"<td>{esc(c)}</td>"
                        for j, c in enumerate(row))
        cls = f' class="{esc(classes[i])}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def image(data: bytes, alt: str, kind: str = "png") -> str:
    """An ``<img>`` with the figure (``kind`` "png" or "svg") embedded as a data: URI."""
    mime = {"png": "image/png", "svg": "image/svg+xml"}[kind]
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="figure" alt="{esc(alt)}" src="data:{mime};base64,{encoded}">'


def section(title: str, body: str, anchor: str | None = None) -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{body}</section>"


def page(title: str, subtitle: str, sections: Iterable[str]) -> str:
    """The whole self-contained page (no script, no external resource)."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><main>"
        + "".join(sections) + "</main></body></html>\n"
    )
