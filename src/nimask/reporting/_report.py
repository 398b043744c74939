"""The ``Report`` object: one self-contained HTML page (images embedded, nothing fetched)."""
from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

__all__ = ["Report"]


WIDTH_DEFAULT = 800  # px, the size of the frame a notebook shows (as nilearn's reports)
HEIGHT_DEFAULT = 800


class Report:
    """A masker report: a self-contained HTML page.

    Shown in a notebook as an inline frame of ``width`` x ``height`` (``resize`` changes
    them); ``str(report)``, ``report.html`` and ``get_html()`` give the page.

    Parameters
    ----------
    html : str
        The whole page (``<!DOCTYPE html>...``); images are ``data:`` URIs, styles inline.
    title : str
    width : int or None, default=800
        Width of the frame in pixels (None: the whole width of the notebook cell).
    height : int, default=800
        Height of the frame in pixels.
    notes : list of str, optional
        Why the page shows less than usual (each was also raised as a warning): kept as ``notes``.
    """

    def __init__(self, html: str, title: str = "nimask report", width: int | None = WIDTH_DEFAULT,
                 height: int = HEIGHT_DEFAULT, notes: list[str] | None = None) -> None:
        self._html = html
        self.notes = list(notes or [])
        self.title = title
        self.width = width
        self.height = height

    @property
    def html(self) -> str:
        """The page as a string."""
        return self._html

    def get_html(self) -> str:
        """The page as a string."""
        return self._html

    def get_standalone(self) -> str:
        """The page as a string (as nilearn's reports)."""
        return self._html

    @property
    def width(self) -> int | None:
        """Width of the notebook frame in pixels (None: the cell's width)."""
        return self._width

    @width.setter
    def width(self, value) -> None:
        self._width = None if value is None else _pixels(value, "width", WIDTH_DEFAULT)

    @property
    def height(self) -> int:
        """Height of the notebook frame in pixels."""
        return self._height

    @height.setter
    def height(self, value) -> None:
        self._height = _pixels(value, "height", HEIGHT_DEFAULT)

    def resize(self, width: int | None, height: int) -> Report:
        """Set the size of the notebook frame (pixels); returns the report."""
        self.width = width
        self.height = height
        return self

    def get_iframe(self, width: int | None = None, height: int | None = None) -> str:
        """The page in an inline frame (its styles do not leak into the page around it).

        ``width`` / ``height`` default to the report's ``width`` / ``height``."""
        width = self.width if width is None else width
        height = self.height if height is None else height
        width_css = "100%" if width is None else f"{int(width)}px"
        return (
            f'<iframe srcdoc="{html.escape(self._html, quote=True)}" title="{html.escape(self.title)}" '
            f'style="width: {width_css}; height: {int(height)}px; border: 1px solid #ccc;"></iframe>'
        )

    def __str__(self) -> str:
        return self._html

    def __repr__(self) -> str:
        return f"<Report {self.title!r}: {len(self._html) / 1e6:.2f} MB of HTML>"

    @property
    def body(self) -> str:
        """What a notebook shows: the page in an iframe (its styles do not leak into the notebook)."""
        return self.get_iframe()

    def _repr_html_(self) -> str:
        return self.body

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


def _pixels(value, name: str, default):
    """``value`` as a positive number of pixels; anything else warns and gives ``default``."""
    try:
        pixels = int(value)
        if pixels <= 0 or isinstance(value, bool):
            raise ValueError
        return pixels
    except (TypeError, ValueError):
        import warnings

        from .._warnings import find_stack_level
        from ..exceptions import NimaskReportWarning

        warnings.warn(f"Invalid {name} {value!r} for the report frame (a positive number of pixels). "
                      f"Using default instead: {default if default is not None else 'the cell width'}.",
                      NimaskReportWarning, stacklevel=find_stack_level())
        return default
