"""Strategy labels (``desc-<label>``): one label per strategy, whatever its spelling; two strategies never
share one (presets), or are refused together in a batch (names of JSON files)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimask.batch import parse_strategy
from nimask.batch.strategies import PRESET_TOKENS, Strategy, unique_strategies
from nimask.exceptions import ParameterError

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("a, b", [
    ("motion6+scrub0.5", "scrub0.5+motion6"),
    ("motion6+scrub0.5", "motion6+scrub0.50"),
    ("motion6+scrub0.5", "motion6+scrub.5"),
    ("motion6+scrub5", "motion6+scrub05"),
    ("motion6+scrub5", "motion6+scrub5.0"),
    ("motion24", "motion6+motion24"),
    ("motion24+wm_csf4+gsr", "gsr+wm_csf+wm_csf4+motion12+motion24"),
    ("motion6+gsr", "gsr+motion6+gsr"),
])
def test_two_spellings_of_one_strategy_share_its_label(a, b):
    sa, sb = parse_strategy(a), parse_strategy(b)
    assert sa == sb and sa.label == sb.label and sa.name == sb.name
    assert (sa.spec, sb.spec) == (a, b)  # the spelling given, for messages


@pytest.mark.parametrize("a, b", [
    ("motion6+scrub0.5", "motion6+scrub05"),  # 0.5 mm and 5 mm: both were motion6scrub05
    ("scrub5.5", "scrub55"),
    ("scrub0.05", "scrub0.5"),
    ("wm_csf4+gsr", "wm_csf+gsr4"),
    ("motion12", "motion6"),
])
def test_different_strategies_have_different_labels(a, b):
    assert parse_strategy(a).label != parse_strategy(b).label


@pytest.mark.parametrize("spec, label", [
    # unchanged: these spellings were already canonical and their labels unambiguous
    ("motion6", "motion6"), ("motion24+wm_csf", "motion24wmcsf"), ("motion12+wm_csf4", "motion12wmcsf4"),
    ("motion6+gsr4", "motion6gsr4"), ("scrub5", "scrub5"), ("motion24+wm_csf+gsr+scrub1", "motion24wmcsfgsrscrub1"),
    # changed: a threshold with a decimal point (p), and spellings out of the canonical order
    ("motion6+scrub0.5", "motion6scrub0p5"), ("motion24+wm_csf+gsr+scrub0.5", "motion24wmcsfgsrscrub0p5"),
    ("scrub0.2+motion6", "motion6scrub0p2"), ("gsr+motion6", "motion6gsr"), ("motion6+scrub05", "motion6scrub5"),
    ("scrub0.00001", "scrub0p00001"), ("scrub1000000", "scrub1000000"),
])
def test_labels(spec, label):
    assert parse_strategy(spec).label == label


def test_two_scrub_thresholds_are_refused():
    with pytest.raises(ParameterError, match="two 'scrub' tokens"):
        parse_strategy("motion6+scrub0.5+scrub0.2")


@pytest.mark.parametrize("spec", ["scrub0", "scrub0.0", "scrub" + "9" * 400])
def test_thresholds_must_be_positive_finite(spec):
    with pytest.raises(ParameterError, match="fd_threshold"):
        parse_strategy(spec)


# ---- injectivity over generated presets --------------------------------------------------------

def _spell_threshold(draw, fd: float) -> str:
    """One of the many spellings of ``fd``: leading zeros, trailing zeros, no zero before the point."""
    text = np.format_float_positional(fd, unique=True, trim="-")
    if "." not in text and draw(st.booleans()):
        text += "." + "0" * draw(st.integers(0, 2))
    elif "." in text:
        text += "0" * draw(st.integers(0, 2))
    if text.startswith("0.") and draw(st.booleans()):
        text = text[1:]
    else:
        text = "0" * draw(st.integers(0, 2)) + text
    return text


@st.composite
def presets(draw):
    tokens = draw(st.lists(st.sampled_from(sorted(PRESET_TOKENS)), max_size=5))
    fd = draw(st.one_of(st.none(), st.sampled_from([0.5, 5.0, 0.05, 50.0, 5.5, 55.0, 0.55, 1.0, 10.0, 0.1]),
                        st.floats(1e-4, 1e3, allow_nan=False, allow_infinity=False).map(lambda x: float(f"{x:.3g}"))))
    parts = list(tokens) + ([] if fd is None else [f"scrub{_spell_threshold(draw, fd)}"])
    if not parts:
        parts = ["motion6"]
    return "+".join(draw(st.permutations(parts)))


def _content(s: Strategy):
    return frozenset(s.confounds), s.fd_threshold


@SETTINGS
@given(presets(), presets())
def test_preset_labels_are_injective(a, b):
    sa, sb = parse_strategy(a), parse_strategy(b)
    assert (sa.label == sb.label) == (_content(sa) == _content(sb)), (a, b, sa.label, sb.label)
    assert (sa.label == sb.label) == (sa == sb)


@SETTINGS
@given(presets())
def test_a_label_is_alphanumeric_and_its_canonical_spelling_reads_back(spec):
    s = parse_strategy(spec)
    assert re.fullmatch(r"[A-Za-z0-9]+", s.label)
    again = parse_strategy(s.name)  # the canonical spelling is a spelling
    assert again == s and again.name == s.name and again.label == s.label
    # the label reads back to the tokens: each family's token and the threshold, in order
    m = re.fullmatch(r"(motion(?:6|12|24))?(wmcsf4?)?(gsr4?)?(?:scrub(\d+(?:p\d+)?))?", s.label)
    assert m is not None
    fd = None if m.group(4) is None else float(m.group(4).replace("p", "."))
    assert fd == s.fd_threshold


# ---- JSON files and batches -------------------------------------------------------------------

def _json(path, **content):
    path.write_text(json.dumps(content))
    return str(path)


def test_json_label_is_its_name_and_same_content_under_other_names_is_two_strategies(tmp_path):
    a = parse_strategy(_json(tmp_path / "a.json", confounds=["csf"]))
    b = parse_strategy(_json(tmp_path / "b.json", confounds=["csf"]))
    assert (a.label, b.label) == ("a", "b")
    assert unique_strategies([a, b]) == [a, b]  # both written, each under its own label


def test_the_same_strategy_twice_is_done_once(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a = parse_strategy(_json(tmp_path / "x" / "mine.json", confounds=["csf"], fd_threshold=0.4))
    b = parse_strategy(_json(tmp_path / "y" / "mine.json", confounds=["csf"], fd_threshold=0.4))
    assert unique_strategies([a, b]) == [a]
    spellings = [parse_strategy("motion6+scrub0.5"), parse_strategy("scrub0.5+motion6")]
    assert unique_strategies(spellings) == spellings[:1]
    # a JSON file that holds a preset under the preset's name is that preset
    preset = parse_strategy(_json(tmp_path / "p.json", name="scrub0.5+motion6", fd_threshold=0.5,
                                  confounds=list(PRESET_TOKENS["motion6"])))
    assert preset.label == "motion6scrub0p5" and unique_strategies([spellings[0], preset]) == spellings[:1]


def test_two_different_strategies_with_one_label_are_refused_naming_both(tmp_path):
    a = parse_strategy(_json(tmp_path / "a.json", name="my-strategy", confounds=["csf"]))
    b = parse_strategy(_json(tmp_path / "b.json", name="my_strategy", confounds=["white_matter"]))
    assert a.label == b.label == "mystrategy"
    with pytest.raises(ParameterError, match=r"a\.json.*b\.json.*desc-mystrategy"):
        unique_strategies([a, b])
    # a JSON named like a preset but holding something else
    other = parse_strategy(_json(tmp_path / "c.json", name="motion6", confounds=list(PRESET_TOKENS["motion6"]),
                                 low_pass=0.1))
    assert other.label == "motion6"
    with pytest.raises(ParameterError, match=r"'motion6'.*c\.json"):
        unique_strategies([parse_strategy("motion6"), other])
    # same label, same content, other names: one output, computed once
    c = parse_strategy(_json(tmp_path / "d.json", name="my.strategy", confounds=["csf"]))
    assert unique_strategies([a, c]) == [a]
