"""esp-matter-mfg-tool's own integration suite (Espressif's 66 cases: the command, the line it prints, the
partition's fields, the certificate chain, names, secure-cert presence, CSV quoting) run against our
``esp32`` drop-in, and against the reference tool to know which cases it passes: every case the reference
passes must pass on ours.

The suite's code comes from the esp-matter-mfg-tool wheel in ``.venv-esp`` (tests/setup.sh installs it), its
data from ``tests/fixtures/esp-matter-mfg-tool-suite``; the two pieces the wheel lacks are ours:
``tests/reference/nvs_parser.py`` and ``tests/reference/chip_cert.py`` (a ``chip-cert validate-att-cert``
stand-in on our chain checker). Cases run one by one (``tests/reference/run_mfg_tool_suite.py``)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT, SCRIPTS

pytestmark = pytest.mark.reference_suite

REFERENCE = os.path.join(ROOT, "tests", "reference")
SUITE_DATA = os.path.join(FIXTURES, "esp-matter-mfg-tool-suite", "test_data")
# cases whose test data predate the reference's own release (see the fixture's README); they fail there too
STALE_CASES = {17, 21}


def esp_venv_python() -> str:
    python = os.path.join(os.environ.get("ESP_MATTER_MFG_VENV") or os.path.join(ROOT, ".venv-esp"), "bin", "python")
    if not os.path.exists(python):
        raise AssertionError("esp-matter-mfg-tool is not installed (tests/setup.sh installs it into .venv-esp)")
    return python


def _wheel_tests_dir(python: str) -> str:
    code = "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('tests').origin))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd="/", check=True)
    return out.stdout.strip()


def _executable(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def run_suite(workdir: str, tool: str) -> dict[int, dict]:
    """Every case's result with ``tool`` ("ours" or "reference") as ``esp-matter-mfg-tool``."""
    python = esp_venv_python()
    work, bin_dir, suite = (os.path.join(workdir, n) for n in ("work", "bin", "suite"))
    shutil.copytree(SUITE_DATA, os.path.join(work, "test_data"))
    inputs = os.path.join(work, "test_data", "test_integration_inputs.json")
    with open(inputs) as f:
        text = f.read().replace("@ABSOLUTE_OUTDIR@", os.path.join(workdir, "absolute-out"))
    with open(inputs, "w") as f:
        f.write(text)
    _executable(os.path.join(work, "test_data", "chip-cert"),
                f'#!/bin/sh\nPYTHONPATH="{SCRIPTS}" exec "{sys.executable}" "{REFERENCE}/chip_cert.py" "$@"\n')
    shutil.copytree(_wheel_tests_dir(python), os.path.join(suite, "tests"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    os.makedirs(os.path.join(suite, "tests", "deps"), exist_ok=True)
    open(os.path.join(suite, "tests", "deps", "__init__.py"), "w").close()
    shutil.copy(os.path.join(REFERENCE, "nvs_parser.py"), os.path.join(suite, "tests", "deps", "nvs_parser.py"))
    os.makedirs(bin_dir)
    if tool == "ours":
        _executable(os.path.join(bin_dir, "esp-matter-mfg-tool"),
                    f'#!/bin/sh\nPYTHONPATH="{SCRIPTS}" exec "{sys.executable}" -m matter_factory_data esp32 "$@"\n')
    else:
        os.symlink(os.path.join(os.path.dirname(python), "esp-matter-mfg-tool"),
                   os.path.join(bin_dir, "esp-matter-mfg-tool"))
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
               PYTHONPATH=os.pathsep.join([suite, SCRIPTS]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    p = subprocess.run([python, os.path.join(REFERENCE, "run_mfg_tool_suite.py"), suite], cwd=work, env=env,
                       capture_output=True, text=True, timeout=3600)
    results = {}
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[r["case"]] = r
    assert results, f"the suite ran no case: {p.stderr[-2000:]}"
    return results


@functools.lru_cache(maxsize=None)
def _results(tool: str, base: str) -> tuple:
    return tuple(sorted(run_suite(os.path.join(base, tool), tool).items()))


@pytest.fixture(scope="module")
def suite_base(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("mfg-tool-suite"))


def test_the_reference_passes_every_case_but_the_stale_ones(suite_base):
    results = dict(_results("reference", suite_base))
    failed = {n for n, r in results.items() if not r["ok"]}
    assert len(results) == 66 and failed == STALE_CASES, {n: results[n] for n in failed}


def test_ours_passes_every_case_the_reference_passes(suite_base):
    reference = dict(_results("reference", suite_base))
    ours = dict(_results("ours", suite_base))
    must_pass = {n for n, r in reference.items() if r["ok"]}
    failed = {n: ours[n]["error"] for n in sorted(must_pass) if not ours[n]["ok"]}
    assert not failed, f"{len(failed)} of {len(must_pass)} cases fail: {json.dumps(failed, indent=1)}"
