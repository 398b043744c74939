"""Every catalogue ID is accounted for in docs/reliability.md, and the tests it names exist."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT.parent / "shared" / "reliability" / "catalogue.md"
DOC = ROOT / "docs" / "reliability.md"
ID_ROW = re.compile(r"^\| ([A-Z][0-9]+[a-z]?) \|", re.MULTILINE)


def _ids(text: str) -> list[str]:
    return ID_ROW.findall(text)


def test_every_catalogue_id_is_in_the_coverage_doc():
    if not CATALOGUE.exists():
        pytest.skip(f"catalogue not found at {CATALOGUE}")
    catalogue = _ids(CATALOGUE.read_text())
    documented = set(_ids(DOC.read_text()))
    assert len(catalogue) > 100
    missing = [cid for cid in catalogue if cid not in documented]
    assert not missing, f"catalogue IDs missing from docs/reliability.md: {missing}"


def test_every_doc_row_has_a_status_and_a_reference():
    for line in DOC.read_text().splitlines():
        if ID_ROW.match(line):
            cells = [c.strip() for c in line.strip("|").split("|")]
            assert len(cells) == 3 and cells[1] and cells[2], line


def test_tests_named_in_the_doc_exist():
    text = DOC.read_text()
    refs = re.findall(r"`((?:rel/)?[\w/]*test_\w+\.py)::(test_\w+)", text)
    assert refs
    for path, func in refs:
        path = path.replace("rel/", "reliability/")
        source = (ROOT / "tests" / path).read_text()
        assert f"def {func}(" in source, f"{path}::{func} named in docs/reliability.md does not exist"
