"""The format registry: every format encodes and decodes the one model, recognises its own images, and the
README's Python API block runs as it stands."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from matter_factory_data import api, formats
from matter_factory_data.errors import InvalidInput
from matter_factory_data.model import FIELD_SPECS

from conftest import ROOT, SCRIPTS

CREDS = api.test_credentials(0xFFF1, 0x8000)
PASSCODE = 20202022


def device() -> api.Device:
    d = api.Device(sn="SN-42", vendor_id=0xFFF1, product_id=0x8000, vendor_name="Acme", product_name="Lamp",
                   date="2025-01-15", hw_ver=3, hw_ver_str="3.0", discriminator=0xABC, spake2_it=2000,
                   spake2_salt=bytes(range(24)), rd_uid=bytes(range(100, 116)), dac_cert=CREDS.dac_cert,
                   dac_key=CREDS.dac_key, pai_cert=CREDS.pai_cert, product_finish=2, primary_color=5,
                   part_number="P-1", product_label="Label")
    d.spake2_verifier = api.generate_verifier(PASSCODE, d.spake2_salt, d.spake2_it)
    d.validate()
    return d


@pytest.mark.parametrize("name", formats.names())
def test_every_format_round_trips_the_fields_it_stores(name):
    fmt = formats.get(name)
    assert set(fmt.FIELDS) <= set(FIELD_SPECS) and fmt.NAME == name and fmt.DESCRIPTION
    d = device()
    image = api.encode(name, d, cd=CREDS.cd, passcode=PASSCODE, commissionable=True)
    back = api.decode(name, image)
    for field in fmt.FIELDS:
        expected = PASSCODE if field == "passcode" and name in ("nxp", "ti", "bouffalolab") else getattr(d, field)
        assert getattr(back, field) == expected, (name, field)
    assert formats.detect(image) == name
    # a Telink image is also a valid nRF Connect partition (the nRF parser reads it); nothing else overlaps
    also = {"nrfconnect"} if name == "telink" else set()
    assert {n for n in formats.names() if formats.get(n).looks_like(image)} == {name} | also


def test_a_format_that_does_not_exist_is_an_input_error():
    with pytest.raises(InvalidInput, match="'stm32' is not a format"):
        formats.get("stm32")


def test_stored_values_are_checked_with_the_models_rules():
    problems = formats.stored_value_problems(formats.get("nxp"), {"discriminator": 5000, "passcode": 11111111,
                                                                 "iteration_count": 10})
    assert problems == ["iteration_count: 10 is out of range (allowed 1000..100000)",
                        "discriminator: 5000 is out of range (allowed 0..4095)",
                        "passcode: 11111111 is not allowed by the Matter specification (trivial passcode)"]


def test_the_readme_python_api_block_runs_as_it_stands(tmp_path):
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    env = dict(os.environ, PYTHONPATH=SCRIPTS)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert [line.split(":")[0] for line in r.stdout.splitlines()] == list(api.FORMATS)
    assert os.listdir(tmp_path) == []  # it reads and writes no file
