"""The device parser's rules as ``inspect`` applies them (spec/nrfconnect.md §6)."""

import json

import cbor2
import pytest

from matter_factory_data.errors import InvalidInput
from matter_factory_data.formats import nrfconnect
from matter_factory_data.inspection import inspect_bytes
from conftest import assert_clean_error, ref_args, run_script


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    r = run_script("generate_factory_data.py", *ref_args(str(d / "fd"), offset="0xfb000", size="0x1000"))
    assert r.code == 0, r.stderr
    with open(d / "fd.json") as f:
        doc = json.load(f)
    return d, doc


def _cbor(doc):
    return nrfconnect.encode_cbor(doc)


def test_good_image_ok_in_every_form(good):
    d, doc = good
    for name in ("fd.json", "fd.bin", "fd.hex"):
        ins = inspect_bytes((d / name).read_bytes(), str(d / name))
        assert ins.ok, ins.errors
        assert ins.model.to_doc() == doc
    ins = inspect_bytes(_cbor(doc), "x.cbor")
    assert ins.ok and ins.model.vendor_id == 0x127F


def test_cli_json_report(good):
    d, doc = good
    r = run_script("inspect", str(d / "fd.hex"), "--json")
    assert r.code == 0
    report = json.loads(r.stdout)
    assert report["ok"] and report["offset"] == 0xFB000 and report["data"]["dac_key"] is None
    r = run_script("inspect", str(d / "fd.hex"), "--json", "--show_secrets")
    assert json.loads(r.stdout)["data"] == doc


def test_merged_hex_with_offset(good, tmp_path):
    d, doc = good
    from intelhex import IntelHex

    ih = IntelHex(str(d / "fd.hex"))
    ih.puts(0x0, b"\x01\x02" * 100)  # "firmware" at 0
    ih.write_hex_file(str(tmp_path / "merged.hex"))
    r = run_script("inspect", str(tmp_path / "merged.hex"), "--offset", "0xfb000")
    assert r.code == 0, r.stdout
    r = run_script("inspect", str(tmp_path / "merged.hex"), "--offset", "0x90000")
    assert_clean_error(r, 2, "--offset", "not inside any data")


def test_zeroed_dac_key_is_tolerated(good):
    _, doc = good
    migrated = dict(doc, dac_key="hex:" + "00" * 32)
    ins = inspect_bytes(_cbor(migrated) + b"\x00", "x.bin")
    assert ins.ok, ins.errors
    assert any("migrated to secure storage" in n for n in ins.notes)
    r_text = __import__("matter_factory_data.inspection", fromlist=["render_text"]).render_text(ins)
    assert "migrated to secure storage" in r_text


def test_text_where_bytes_expected_fails(good):
    _, doc = good
    raw = bytearray(_cbor(doc))
    # re-encode sn as tstr: find 62 'sn' 4b and change the value's major type 2 -> 3
    i = raw.index(bytes.fromhex("62736e4b"))
    raw[i + 3] = 0x6B
    with pytest.raises(InvalidInput, match="sn: is a text string at offset"):
        nrfconnect.parse_partition(bytes(raw))


def test_negative_int_and_float_fail():
    with pytest.raises(InvalidInput, match="negative integer"):
        nrfconnect.parse_partition(cbor2.dumps({"hw_ver": -1}))
    with pytest.raises(InvalidInput, match="float"):
        nrfconnect.parse_partition(cbor2.dumps({"vendor_id": 1.0}))


def test_tag_prefix_rejected():
    with pytest.raises(InvalidInput, match="tag 55799"):
        nrfconnect.parse_partition(bytes.fromhex("d9d9f7") + cbor2.dumps({"version": 1}))


def test_prefix_keys_resolve_like_the_device():
    p = nrfconnect.parse_partition(cbor2.dumps({"v": 7, "product": 5}))
    assert p.doc == {"version": 7, "product_id": 5}
    assert any("'v' is a prefix of 'version'" in e for e in p.problems)
    assert nrfconnect.resolve_key("hw_ver_str") == "hw_ver_str"
    assert nrfconnect.resolve_key("hw_ver") == "hw_ver"
    assert nrfconnect.resolve_key("") == "version"
    assert nrfconnect.resolve_key("other") is None


def test_non_text_key_stops_the_device(good):
    _, doc = good
    items = list(doc.items())
    raw = bytearray(nrfconnect._head(5, len(items) + 1))
    raw += cbor2.dumps("version")[0:] + b"\x01"
    raw += b"\x01\x02"  # int key 1 -> value 2
    body = _cbor(dict(items[1:]))
    raw += body[1 if body[0] < 0xB8 else 2:]
    p = nrfconnect.parse_partition(bytes(raw))
    assert any("not a text string" in e for e in p.problems)
    assert "sn" not in p.doc


def test_indefinite_map_and_trailing_bytes_accepted(good):
    _, doc = good
    body = _cbor(doc)
    start = 1 if body[0] < 0xB8 else 2
    indefinite = b"\xbf" + body[start:] + b"\xff" + b"\xff" * 10
    ins = inspect_bytes(indefinite, "x.bin")
    assert ins.ok, ins.errors
    assert any("indefinite" in n for n in ins.notes)
    assert any("10 byte(s) after the map" in n for n in ins.notes)


def test_duplicate_keys_reported(good):
    _, doc = good
    body = _cbor(doc)
    start = 1 if body[0] < 0xB8 else 2
    raw = nrfconnect._head(5, len(doc) + 1) + body[start:] + cbor2.dumps("hw_ver")[0:] + b"\x05"
    ins = inspect_bytes(raw, "x.bin")
    assert not ins.ok and any("more than once" in e for e in ins.errors)
    assert ins.doc["hw_ver"] == 5  # last wins, as on the device


def test_verifier_mismatch_detected(good):
    _, doc = good
    bad = dict(doc, passcode=20202021)
    ins = inspect_bytes(_cbor(bad), "x.cbor")
    assert not ins.ok and any("does not match passcode" in e for e in ins.errors)


def test_wrong_dac_key_detected(good):
    _, doc = good
    bad = dict(doc, dac_key="hex:" + "11" * 32)
    ins = inspect_bytes(_cbor(bad), "x.cbor")
    assert any("DAC key does not match" in e for e in ins.errors)


def test_missing_required_field_reported(good):
    _, doc = good
    bad = {k: v for k, v in doc.items() if k != "spake2_salt"}
    ins = inspect_bytes(_cbor(bad), "x.cbor")
    assert ins.errors == ["spake2_salt: is required"]


def test_bad_date_in_partition():
    with pytest.raises(InvalidInput, match="DDDD-DD-DD"):
        nrfconnect.parse_partition(cbor2.dumps({"date": b"2022/01/01"}))


def test_user_values_not_readable_by_find_user_data_entry_warn(good):
    _, doc = good
    ins = inspect_bytes(_cbor(dict(doc, user={"list": [1, 2]})), "x.cbor")
    assert ins.ok and any("FindUserDataEntry" in w for w in ins.warnings)


def test_inspect_cli_exit_code_on_problem(tmp_path, good):
    _, doc = good
    f = tmp_path / "bad.cbor"
    f.write_bytes(_cbor(dict(doc, discriminator=5000)))
    r = run_script("inspect", str(f))
    assert r.code == 2
    assert "error: discriminator: 5000 is out of range" in r.stdout
    assert "Traceback" not in r.stderr
    assert_clean_error(run_script("inspect", str(tmp_path / "missing.bin")), 1, "cannot read")
