"""Conformance: nilearn 0.14.1's own volumetric masker tests, run against nimask.

``python conformance/run.py`` (``make conformance``; ``make test`` runs it too):

1. copies the seven masker test modules of the *installed* nilearn 0.14.1
   (``nilearn/maskers/tests/test_{nifti,multi_nifti}_*masker.py`` and the spheres one) into
   a temporary folder, next to nilearn's own ``conftest.py`` files (its fixtures); no nilearn
   test code is kept in this repository;
2. points their masker imports at nimask: ``from nilearn.maskers import X`` becomes
   ``from nimask.maskers import X``. An import of a nilearn *private* masker internal (a
   function of ``nilearn.maskers.<module>``) is given a stand-in that raises when called, so
   the tests that use it fail (they test nilearn's internals, not the masker API) and are
   listed with that reason. Nothing else in the modules changes: nilearn's estimator checks
   recognise nimask's maskers through the tags nimask itself declares (``estimator_type
   "masker"``, ``input_tags.niimg_like``). One recognition is adapted: which *kind* of masker
   a check is given. nilearn's checks tell it by nilearn's own classes
   (``isinstance(estimator, NiftiMasker)``, ``NiftiMapsMasker``, ... the private
   ``nilearn.maskers._mixin._MultiMixin`` for Multi maskers and ``CacheMixin`` for the
   estimators that cache). The copied root ``conftest.py``
   gets a few appended lines that make each of these names, inside
   ``nilearn._utils.estimator_checks`` only, also recognise the nimask class of the same name
   (``MultiImagesMixin`` for the mixin); calling such a name still builds nilearn's class.
   Likewise ``DimensionError``, the one nilearn exception class the tests expect from a
   masker, means "nilearn's or nimask's class" in the checks and the test modules, and
   ``HTMLReport``, the class nilearn's report checks expect ``generate_report`` to return,
   means "nilearn's ``HTMLReport`` or nimask's ``Report``" in nilearn's report-check helper
   (``nilearn.reporting.tests._testing``): nimask cannot subclass nilearn's classes without
   importing nilearn at run time. Everything else those checks ask of a report (its
   warnings, HTML content, frame size, ``body``, saving) nimask's report does itself.
   No check is changed, skipped or deselected;
3. runs them with pytest and compares each test's outcome with ``expected_failures.txt``
   (one test id per line, a tab, the reason: a deliberate fix of a nilearn silent-wrong
   result naming its catalogue row, or a test of nilearn's private internals). The run fails
   when a test outside the list fails and when a listed test passes: the list only shrinks.

``--baseline`` also runs the unmodified modules on nilearn and prints both counts.
``--write-expected`` rewrites the list from this run's failures (keeping known reasons).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = os.path.join(HERE, "expected_failures.txt")
MODULES = [
    "test_nifti_masker.py", "test_multi_nifti_masker.py", "test_nifti_labels_masker.py",
    "test_multi_nifti_labels_masker.py", "test_nifti_maps_masker.py", "test_multi_nifti_maps_masker.py",
    "test_nifti_spheres_masker.py",
]
NILEARN_VERSION = "0.14.1"
_PUBLIC_IMPORT = re.compile(r"^(\s*)from nilearn\.maskers import", re.M)
_PRIVATE_IMPORT = re.compile(r"^(\s*)from nilearn\.maskers\.(\w+) import ([\w, ]+)$", re.M)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_DIMENSION_IMPORT = re.compile(r"^(\s*)from nilearn\.exceptions import ([\w, ]+)$", re.M)


def _dimension_error(match: re.Match) -> str:
    """``DimensionError`` in a test module: nilearn's class or nimask's (the tests expect it from the masker)."""
    indent, names = match.group(1), [n.strip() for n in match.group(2).split(",") if n.strip()]
    others = [n for n in names if n != "DimensionError"]
    lines = [f"{indent}from nilearn.exceptions import {', '.join(others)}"] if others else []
    if "DimensionError" in names:
        lines.append(f"{indent}from _nilearn_private import DIMENSION_ERRORS as DimensionError")
    return "\n".join(lines)
# estimator-check ids carry a running index or the estimator's repr, which differ between nilearn and
# nimask (nilearn yields a few checks more for its own cache mixin): they become <check name>#<k>, k
# counting that check's occurrences in the module
_CHECK_ID = re.compile(r"^(test_check_estimator_\w+)\[(?:.*?)-(check_\w+?)(?:-check_\w+)?\]$")


def normalise_ids(raw: list[tuple[str, str, str]]) -> dict[str, str]:
    """``{stable id: outcome}`` from ``(module, test name, outcome)`` in the order pytest reported them."""
    seen: dict[tuple[str, str, str], int] = {}
    outcomes: dict[str, str] = {}
    for module, name, outcome in sorted(raw, key=lambda r: (r[0], _index(r[1]), r[1])):
        match = _CHECK_ID.match(name)
        if match:
            key = (module, match.group(1), match.group(2))
            seen[key] = seen.get(key, 0) + 1
            name = f"{match.group(1)}[{match.group(2)}#{seen[key]}]"
        test_id = _ADDRESS.sub("0x?", f"{module}::{name}")
        if outcomes.get(test_id) != "failed":  # ids made equal by the address rule: the worst outcome
            outcomes[test_id] = outcome
    return outcomes


def _index(name: str) -> int:
    match = re.search(r"\[estimator(\d+)-", name)
    return int(match.group(1)) if match else -1


_RECOGNITION = """

# ---- nimask conformance: the one adapted recognition (see nimask's conformance/run.py) ----
# nilearn's estimator checks tell which kind of masker they test by nilearn's own classes; these
# names, inside nilearn._utils.estimator_checks only, also recognise nimask's class of the same
# name. Calling one still builds nilearn's class.
import nilearn._utils.estimator_checks as _nimask_checks  # noqa: E402
import nimask.maskers as _nimask_maskers  # noqa: E402
from nimask.maskers._multi import MultiImagesMixin as _NimaskMulti  # noqa: E402


class _EitherKind(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, cls.kinds)

    def __call__(cls, *args, **kwargs):
        return cls.kinds[0](*args, **kwargs)


for _name in ("NiftiMasker", "MultiNiftiMasker", "NiftiLabelsMasker", "MultiNiftiLabelsMasker",
              "NiftiMapsMasker", "MultiNiftiMapsMasker", "NiftiSpheresMasker"):
    if hasattr(_nimask_checks, _name):
        _theirs = getattr(_nimask_checks, _name)
        setattr(_nimask_checks, _name, _EitherKind(_name, (), {"kinds": (_theirs, getattr(_nimask_maskers, _name))}))
_nimask_checks._MultiMixin = _EitherKind("_MultiMixin", (), {"kinds": (_nimask_checks._MultiMixin, _NimaskMulti)})
# nilearn's estimators that cache (memory=, memory_level=) share CacheMixin; every nimask masker caches
from nimask.maskers._base import BaseMasker as _NimaskBase  # noqa: E402

_nimask_checks.CacheMixin = _EitherKind("CacheMixin", (), {"kinds": (_nimask_checks.CacheMixin, _NimaskBase)})

# the same for the exception the checks expect for wrong dimensions: nilearn's class or nimask's
from _nilearn_private import DIMENSION_ERRORS  # noqa: E402

_nimask_checks.DimensionError = DIMENSION_ERRORS

# and for the report the checks expect back from generate_report: nilearn's HTMLReport or nimask's Report
import nilearn.reporting.tests._testing as _nimask_report_checks  # noqa: E402
from nimask.reporting import Report as _NimaskReport  # noqa: E402

_nimask_report_checks.HTMLReport = _EitherKind(
    "HTMLReport", (), {"kinds": (_nimask_report_checks.HTMLReport, _NimaskReport)})
"""


def nilearn_dir() -> str:
    try:
        import nilearn
    except ImportError as exc:  # the oracle is a test dependency
        raise SystemExit("conformance: nilearn is not installed; run `pip install -e '.[test]'`.") from exc
    if nilearn.__version__ != NILEARN_VERSION:
        raise SystemExit(f"conformance: nilearn {NILEARN_VERSION} is needed; {nilearn.__version__} is installed.")
    return os.path.dirname(nilearn.__file__)


def _stand_in(match: re.Match) -> str:
    indent, module, names = match.group(1), match.group(2), [n.strip() for n in match.group(3).split(",")]
    lines = [f"{indent}from _nilearn_private import private as _private"]
    lines += [f"{indent}{name} = _private('nilearn.maskers.{module}.{name}')" for name in names if name]
    return "\n".join(lines)


def prepare(folder: str, point_at_nimask: bool = True) -> str:
    """Lay out the copied test modules and nilearn's conftest files under ``folder``."""
    src = nilearn_dir()
    tests = os.path.join(folder, "maskers_tests")
    os.makedirs(tests)
    shutil.copy(os.path.join(src, "conftest.py"), os.path.join(folder, "conftest.py"))
    if point_at_nimask:  # the one adapted recognition (see the module docstring)
        with open(os.path.join(folder, "conftest.py"), "a") as fh:
            fh.write(_RECOGNITION)
    shutil.copy(os.path.join(src, "maskers", "tests", "conftest.py"), os.path.join(tests, "conftest.py"))
    with open(os.path.join(folder, "pytest.ini"), "w") as fh:
        fh.write("[pytest]\naddopts = -p no:cacheprovider\nxfail_strict = false\n")
    with open(os.path.join(folder, "_nilearn_private.py"), "w") as fh:
        fh.write(
            "def private(name):\n"
            "    def stand_in(*args, **kwargs):\n"
            "        raise NotImplementedError(f'{name} is a private internal of nilearn, not part of the masker "
            "API that nimask reproduces')\n"
            "    return stand_in\n\n\n"
            "import nilearn.exceptions\n"
            "import nimask.exceptions\n\n"
            "# DimensionError: nilearn's class or nimask's (see conformance/run.py)\n"
            "DIMENSION_ERRORS = (nilearn.exceptions.DimensionError, nimask.exceptions.DimensionError)\n"
        )
    for name in MODULES:
        with open(os.path.join(src, "maskers", "tests", name)) as fh:
            text = fh.read()
        if point_at_nimask:
            text = _PUBLIC_IMPORT.sub(r"\1from nimask.maskers import", text)
            text = _DIMENSION_IMPORT.sub(_dimension_error, text)
            text = _PRIVATE_IMPORT.sub(_stand_in, text)
        with open(os.path.join(tests, name), "w") as fh:
            fh.write(text)
    return tests


def run_pytest(folder: str, n_workers: int, extra: list[str]) -> dict[str, str]:
    """Outcome of every test: ``{id: "passed" | "failed" | "skipped" | "xfailed"}``."""
    junit = os.path.join(folder, "junit.xml")
    inherited = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([folder, *inherited]))  # pytest runs from the temp folder
    cmd = [sys.executable, "-m", "pytest", "-q", "--rootdir", folder, "-c", os.path.join(folder, "pytest.ini"),
           f"--junitxml={junit}", "-o", "junit_family=xunit2", "-p", "no:randomly"]
    if n_workers > 1:
        cmd += ["-n", str(n_workers), "--dist", "loadfile"]  # each module in one process, in order: reproducible
    cmd += extra + [os.path.join(folder, "maskers_tests")]
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    if not os.path.exists(junit):
        sys.stdout.write(proc.stdout[-5000:] + proc.stderr[-5000:])
        raise SystemExit(f"conformance: pytest produced no report (exit {proc.returncode}).")
    raw = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")[-1]
        kinds = {child.tag: child for child in case}
        if "failure" in kinds or "error" in kinds:
            outcome = "failed"
        elif "skipped" in kinds:
            outcome = "xfailed" if kinds["skipped"].get("type") == "pytest.xfail" else "skipped"
        else:
            outcome = "passed"
        raw.append((module, case.get("name"), outcome))
    return normalise_ids(raw)


def read_expected(path: str = EXPECTED) -> dict[str, str]:
    expected = {}
    if os.path.exists(path):
        with open(path) as fh:
            for line in fh:
                if line.strip() and not line.startswith("#"):
                    test_id, _, reason = line.rstrip("\n").partition("\t")
                    expected[test_id] = reason
    return expected


def count(outcomes: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in outcomes.values():
        out[value] = out.get(value, 0) + 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="store_true", help="also run the modules on nilearn itself")
    parser.add_argument("--write-expected", action="store_true", help="rewrite expected_failures.txt")
    parser.add_argument("-n", type=int, default=2, help="pytest-xdist workers (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--dump", metavar="FILE", help="write every test's outcome (and nilearn's) as JSON")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k name)")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="nimask-conformance-")
    try:
        prepare(os.path.join(folder, "nimask"))
        outcomes = run_pytest(os.path.join(folder, "nimask"), args.n, args.pytest_args)
        if args.baseline:
            prepare(os.path.join(folder, "nilearn"), point_at_nimask=False)
            base = run_pytest(os.path.join(folder, "nilearn"), args.n, args.pytest_args)
            passed_on_nilearn = {t for t, o in base.items() if o == "passed"}
            both = sum(1 for t in passed_on_nilearn if outcomes.get(t) == "passed")
            print(f"nilearn {NILEARN_VERSION}: {count(base)}")
            print(f"of the {len(passed_on_nilearn)} tests that pass on nilearn, {both} pass on nimask "
                  f"({100 * both / max(len(passed_on_nilearn), 1):.1f}%)")
            for test_id in sorted(t for t in passed_on_nilearn if outcomes.get(t) not in ("passed", "failed")):
                print(f"  passes on nilearn, {outcomes.get(test_id, 'absent')} on nimask: {test_id}")
        if args.dump:
            import json

            with open(args.dump, "w") as fh:
                json.dump({"nimask": outcomes, "nilearn": base if args.baseline else None}, fh, indent=1)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"kept {folder}")
    expected = read_expected()
    failed = {t for t, o in outcomes.items() if o == "failed"}
    print(f"nimask: {count(outcomes)}; listed as expected failures: {len(expected)}")
    if args.write_expected:
        with open(EXPECTED, "w") as fh:
            fh.write("# nilearn 0.14.1 masker tests expected to fail on nimask: one per line, <test id> TAB <reason>\n")
            for test_id in sorted(failed):
                fh.write(f"{test_id}\t{expected.get(test_id, 'TODO: reason')}\n")
        print(f"wrote {len(failed)} entries to {EXPECTED}")
        return 0
    unexpected = sorted(failed - set(expected))
    fixed = sorted(t for t in expected if outcomes.get(t) == "passed")
    missing = sorted(t for t in expected if t not in outcomes)
    for title, ids in (("failed and not listed", unexpected), ("listed but passed (remove from the list)", fixed),
                       ("listed but not run", missing)):
        if ids:
            print(f"\n{len(ids)} {title}:")
            for test_id in ids:
                print(f"  {test_id}")
    return 1 if unexpected or fixed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
