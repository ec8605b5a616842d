"""Shared test helpers: fixture paths (tests/fixtures, see its README) and CLI runners."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
NRF_REF = os.path.join(FIXTURES, "nrfconnect-reference")
CREDS = os.path.join(FIXTURES, "matter-credentials")
# The JSON Schema the tool ships (constraint-compatible with the nRF Connect SDK's), passed with -s as users do.
SCHEMA = os.path.join(SCRIPTS, "matter_factory_data", "data", "nrfconnect_factory_data.schema")

if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)

SALT_B64 = "U1BBS0UyUCBLZXkgU2FsdA=="
V1000_B64 = ("uWFwqugDNGiEck/po7KHwwMwwqZgN10XuyBajPGuyzUEV/iree4lOrao5GuwnlQ65CJzbeUB49s31EH+NEkg0JVI5MGCQGMMT/SRPFNRODm3wH/MBiehuFc6FJ/NH6Rmzw==")
V2000_B64 = ("WN0SgEXLfUN19BbJqp6qn4pS69EtdNLReIMZwv/CIM0ECMP7ytiAJ7txIYJ0Ovlha/rQ3E+88mj3qaqqnviMaZzG+OyXEdSocDIT9ZhmkTCgWwERaHz4Vdh3G37RT6kqbw==")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_script(script: str, *args: str, cwd: str | None = None, env: dict | None = None) -> Result:
    """Run a project entry point as a user would, in a fresh process."""
    if script in ("generate_factory_data.py", "generate_partition.py"):
        cmd = [sys.executable, os.path.join(SCRIPTS, script), *args]
    else:
        cmd = [sys.executable, "-m", "matter_factory_data", script, *args]
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = SCRIPTS + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.pop("CHIP_ROOT", None)
    if env:
        full_env.update(env)
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=full_env, timeout=120)
    return Result(p.returncode, p.stdout, p.stderr)


def ref_args(out: str, **over) -> list[str]:
    """The reference tests' common arguments (test 1), with per-test changes."""
    base = {
        "-s": SCHEMA,
        "--sn": "SN:12345678", "--vendor_id": "0x127F", "--product_id": "0xABCD",
        "--vendor_name": "Nordic Semiconductor ASA", "--product_name": "Lock Gen2", "--part_number": "PCA10056",
        "--product_url": "https://example.com/lock", "--product_label": "Lock", "--date": "2022-07-20",
        "--hw_ver": "101", "--hw_ver_str": "v1.1",
        "--dac_key": os.path.join(NRF_REF, "DAC_key.der"), "--dac_cert": os.path.join(NRF_REF, "DAC_cert.der"),
        "--pai_cert": os.path.join(NRF_REF, "PAI_cert.der"),
        "--spake2_it": "2000", "--spake2_salt": SALT_B64, "--passcode": "13243546", "--spake2_verifier": V2000_B64,
        "--discriminator": "0xFED", "--rd_uid": "91a9c12a7c80700a31ddcfa7fce63e44",
        "--enable_key": "00112233445566778899aabbccddeeff", "--product_color": "red", "--product_finish": "satin",
        "--user": '{"name": "product_name", "version": 123, "revision": "0x123"}',
        "-o": out,
    }
    return command_line(base, ["--include_passcode"], over)


def command_line(base: dict, flags: list, over: dict) -> list[str]:
    """``base`` options and ``flags`` with ``over`` applied: a value replaces, None removes, True adds a flag."""
    base, flags = dict(base), list(flags)
    for k, v in over.items():
        key = k if k.startswith("-") else "--" + k
        if v is None:
            base.pop(key, None)
            if key in flags:
                flags.remove(key)
        elif v is True:
            flags.append(key)
        else:
            base[key] = v
    return flags + [x for kv in base.items() for x in kv]


@pytest.fixture
def nrf_ref():
    return NRF_REF


def assert_clean_error(res: Result, code: int, *fragments: str) -> None:
    """A user error: the exit code, one line on stderr naming the problem, no traceback."""
    assert res.code == code, (res.code, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert len(lines) == 1, res.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
