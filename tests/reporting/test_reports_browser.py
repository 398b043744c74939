"""Every masker's report rendered in headless Chromium: not blank, no console error, no request.

Chromium is a system package: CI installs it (``.ci/run``), ``make test`` never touches the
machine. Without it this module is skipped (one line in the summary), except under ``CI=true``,
where every test fails. The page is driven over the DevTools protocol (``websocket-client``):
console messages, exceptions and every network request the page makes are collected, and a
full-page screenshot is taken.
"""
from __future__ import annotations

import io

import pytest

from _browser import NO_CHROMIUM, Browser, external_requests, find_chromium, in_ci, png_variance, require_chromium

CHROMIUM = find_chromium()
if CHROMIUM is None and not in_ci():  # one line in the summary; under CI=true every test fails instead
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from PIL import Image  # noqa: E402 - comes with matplotlib

from _report_cases import MASKERS, fitted, sample  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    b = Browser(require_chromium(CHROMIUM), width=1200, height=1600)
    yield b
    b.close()


def test_the_harness_sees_errors_and_requests(browser, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><p>x</p><img src="http://nimask-test.invalid/x.png">'
                   '<script>console.error("boom")</script></body></html>', encoding="utf-8")
    result = browser.load(str(bad))
    assert result["loaded"]
    assert any("boom" in e for e in result["errors"])
    assert external_requests(result) == ["http://nimask-test.invalid/x.png"]
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    assert png_variance(browser.load(str(blank))["png"]) < 1.0


@pytest.fixture(scope="module")
def data():
    return sample()


@pytest.mark.parametrize("name", MASKERS)
def test_every_masker_report_renders_cleanly(browser, data, name, tmp_path):
    masker, imgs = fitted(name, data)
    path = masker.generate_report().save_as_html(tmp_path / f"{name}.html")
    result = browser.load(str(path))
    assert result["loaded"], name
    assert result["errors"] == [], (name, result["errors"])
    assert external_requests(result) == [], (name, external_requests(result))
    assert png_variance(result["png"]) > 200.0, name  # figures, tables and text: far from blank
    width, height = Image.open(io.BytesIO(result["png"])).size
    assert width >= 1000 and height > 1500 * len(imgs) ** 0.5, (name, width, height)
