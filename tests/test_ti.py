"""TI CC13x4/CC26x4: byte-identical with create_factory_data.py on its worked example
(tests/fixtures/ti-reference), the table decoded back, lengths and values checked, the limits."""

from __future__ import annotations

import copy
import json
import os

import pytest

from conftest import FIXTURES, run_script
from matter_factory_data.crypto import spake2p
from matter_factory_data.errors import InvalidInput
from matter_factory_data.formats import ti

REF = os.path.join(FIXTURES, "ti-reference")
DOC = json.load(open(os.path.join(REF, "factory_data.json")))
HEX = open(os.path.join(REF, "factory_data.hex"), "rb").read()


OTHER_VERIFIER = spake2p.generate_verifier(20202022, bytes(range(32)), 1000).hex()


def _write(tmp_path, doc, name="fd.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_drop_in_writes_the_reference_hex_and_nothing_else(tmp_path):
    r = run_script("ti", "-factory_data", os.path.join(REF, "factory_data.json"), "-o", "out.hex", "-device",
                   "cc13x4_26x4", cwd=str(tmp_path))
    assert r.code == 0, r.stderr
    assert (tmp_path / "out.hex").read_bytes() == HEX
    assert os.listdir(tmp_path) == ["out.hex"]  # no temp.bin
    assert "1344 bytes of factory data at 0xFE800" in r.stdout
    # a second run replaces the file, as the reference does (builds run it every time)
    assert run_script("ti", "-factory_data", os.path.join(REF, "factory_data.json"), "-o", "out.hex",
                      cwd=str(tmp_path)).code == 0


def test_table_decodes_to_the_json_values():
    from matter_factory_data.inspection import image_from_hex

    base, region = image_from_hex(HEX, None, "hex")
    assert base == 0xFE800 and ti.looks_like(region)
    values = ti.read(region, base)
    for element, key in zip(DOC["elements"], ti.ORDER):
        value = element[next(iter(element))]
        if isinstance(value, str) and value.startswith("hex:"):
            assert values[key] == bytes.fromhex(value[4:]), key
        elif isinstance(value, str):
            assert values[key] == value.encode(), key
        else:
            assert int.from_bytes(values[key], "little") == value, key
    device = ti.decode(region)
    assert (device.sn, device.spake2_it, device.passcode, device.discriminator) == ("0123456789ABCDEF", 1000,
                                                                                     20202021, 0xF00)
    assert ti.to_hex(region, base) == HEX


def test_the_hex_records_are_objcopys():
    lines = HEX.split(b"\r\n")
    assert lines[0] == b":02000002F0000C" and lines[-3] == b":04000003F000E80021" and lines[-2] == b":00000001FF"
    assert lines[-1] == b"" and b"\n" not in HEX.replace(b"\r\n", b"")
    # the CC13x2/CC26x2 region: another segment, the same shape
    region = ti.region(0xAC000, [(key, b"x") for key in ti.ORDER])
    text = ti.to_hex(region, 0xAC000).decode()
    assert text.startswith(":02000002A0005C\r\n:10C00000") and text.endswith(":04000003A000C00099\r\n:00000001FF\r\n")


def _element(doc, key):
    return next(e for e in doc["elements"] if next(iter(e)) == key)


@pytest.mark.parametrize("change, message", [
    (lambda d: _element(d, "dac_cert").update(len=507), "elements[8] dac_cert: len is 507 but the value is 493 bytes"),
    (lambda d: _element(d, "vendor_name").update(len=3), "elements[3] vendor_name: len is 3 but the value is 11 bytes"),
    (lambda d: _element(d, "passcode").update(len=2), "elements[16] passcode: len is 2 but the value is 4 bytes"),
    (lambda d: d["elements"].reverse(), "elements[0]: is 'passcode'; the device reads entry 0 as 'serial_number'"),
    (lambda d: d["elements"].pop(), "has 16 entries; the device's table has 17"),
    (lambda d: _element(d, "discriminator").update(discriminator=5000), "discriminator: 5000 is out of range"),
    (lambda d: _element(d, "passcode").update(passcode=11111111), "passcode: 11111111 is not allowed"),
    (lambda d: _element(d, "spake2_salt").update(spake2_salt="hex:0011", len=2), "spake2_salt: must be 16..32 bytes"),
    (lambda d: _element(d, "spake2_verifier").update(spake2_verifier="hex:" + OTHER_VERIFIER),
     "spake2_verifier: is not the verifier of passcode"),
    (lambda d: _element(d, "manufacturing_date").update(manufacturing_date="2022/01/01"),
     "manufacturing_date: '2022/01/01' is not a date"),
    (lambda d: _element(d, "dac_cert").update(dac_cert="hex:abc"), "is not hex:<an even number of hex digits>"),
    (lambda d: _element(d, "vendor_id").update(vendor_id="FFF1", len=4), "elements[1] vendor_id: must be a number"),
])
def test_bad_json_is_one_clean_line_and_writes_nothing(tmp_path, change, message):
    doc = copy.deepcopy(DOC)
    change(doc)
    r = run_script("ti", "-factory_data", _write(tmp_path, doc), "-o", "out.hex", cwd=str(tmp_path))
    assert r.code == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "out.hex").exists()


def test_region_limit_and_missing_values():
    with pytest.raises(InvalidInput, match=r"needs 2312 bytes \(0x908\); the TI region holds 2304"):
        ti.region(0xFE800, [(key, bytes(128)) for key in ti.ORDER])
    from matter_factory_data.model import FactoryData

    with pytest.raises(InvalidInput, match="the TI layout stores all 17 values; missing: serial_number"):
        ti.encode(FactoryData())


def test_schema_is_applied_when_given(tmp_path):
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["elements"],
              "properties": {"elements": {"type": "array", "maxItems": 16}}}
    path = _write(tmp_path, schema, "s.schema")
    r = run_script("ti", "-factory_data", os.path.join(REF, "factory_data.json"), "-schema", path, "-o", "o.hex",
                   cwd=str(tmp_path))
    assert r.code == 2 and "schema s.schema: elements:" in r.stderr and "too long" in r.stderr
    schema["properties"]["elements"]["maxItems"] = 17
    _write(tmp_path, schema, "s.schema")
    r = run_script("ti", "-factory_data", os.path.join(REF, "factory_data.json"), "-schema", path, "-o", "o.hex",
                   cwd=str(tmp_path))
    assert r.code == 0 and (tmp_path / "o.hex").read_bytes() == HEX


def test_inspect_reads_the_hex_and_names_a_broken_table(tmp_path):
    r = run_script("inspect", os.path.join(REF, "factory_data.hex"))
    assert r.code == 0 and ": ti factory data (" in r.stdout and "result: OK" in r.stdout
    from matter_factory_data.inspection import image_from_hex

    base, region = image_from_hex(HEX, None, "hex")
    broken = bytearray(region)
    broken[8 * 16:8 * 16 + 4] = (2000).to_bytes(4, "little")  # the passcode entry's length
    (tmp_path / "bad.bin").write_bytes(ti.to_hex(bytes(broken), base))
    (tmp_path / "bad.hex").write_bytes(ti.to_hex(bytes(broken), base))
    r = run_script("inspect", str(tmp_path / "bad.hex"), "--format", "ti")
    assert r.code != 0 and "passcode: its table entry (length 2000 at 0xfed3c) points outside the region" in r.stdout
