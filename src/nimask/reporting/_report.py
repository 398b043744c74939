"""The ``Report`` object: one self-contained HTML page (images embedded, nothing fetched)."""
from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

__all__ = ["Report"]


class Report:
    """A masker report: a self-contained HTML page.

    Parameters
    ----------
    html : str
        The whole page (``<!DOCTYPE html>...``); images are ``data:`` URIs, styles inline.
    title : str
    """

    def __init__(self, html: str, title: str = "nimask report") -> None:
        self._html = html
        self.title = title

    def get_html(self) -> str:
        """The page as a string."""
        return self._html

    def __str__(self) -> str:
        return self._html

    def __repr__(self) -> str:
        return f"<Report {self.title!r}: {len(self._html) / 1e6:.2f} MB of HTML>"

    def _repr_html_(self) -> str:
        """For notebooks: the page in an iframe (its styles do not leak into the notebook)."""
        return (
            f'<iframe srcdoc="{html.escape(self._html, quote=True)}" title="{html.escape(self.title)}" '
            'style="width: 100%; height: 800px; border: 1px solid #ccc;"></iframe>'
        )

    def save_as_html(self, path: str | os.PathLike) -> Path:
        """Write the page to ``path`` (UTF-8) and return the path."""
        path = Path(os.path.expanduser(os.fspath(path)))
        if path.suffix.lower() not in (".html", ".htm"):
            from ..exceptions import ParameterError

            raise ParameterError(
                f"save_as_html: {str(path)!r} must end in .html or .htm; got {path.suffix!r}.",
                param="path", expected=".html", found=path.suffix,
            )
        if not path.parent.is_dir():
            from ..exceptions import ParameterError

            raise ParameterError(f"save_as_html: the folder {str(path.parent)!r} does not exist.",
                                 param="path", found=str(path.parent))
        path.write_text(self._html, encoding="utf-8")
        return path

    def open_in_browser(self, path: str | os.PathLike | None = None) -> Path:
        """Save the page (to ``path`` or a temporary file) and open it in the default browser."""
        import webbrowser

        if path is None:
            fd, name = tempfile.mkstemp(prefix="nimask-report-", suffix=".html")
            os.close(fd)
            path = name
        saved = self.save_as_html(path)
        webbrowser.open(saved.resolve().as_uri())
        return saved
