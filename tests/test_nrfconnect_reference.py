"""The nRF Connect reference generator's own test cases and the partition vectors (spec/nrfconnect.md §2.3-2.4, §4.1).

Driven through our drop-in scripts with the reference fixtures in tests/fixtures/nrfconnect-reference.
"""

import base64
import hashlib
import json
import os

import cbor2
import pytest

from conftest import NRF_REF, SALT_B64, V1000_B64, V2000_B64, ref_args, run_script

DAC_RAW_KEY = "bf26d5d225eb6b096dd5a6b903048ef2d76ef2e85625390bd570b2f1659930eb"
USER = {"name": "product_name", "version": 123, "revision": "0x123"}


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_fixtures_are_the_reference_constants():
    digests = {
        "DAC_key.der": "1c19cf9ebe09b466141e895fbeb33f05b41a530416032bc4d7ee01919593eac5",
        "DAC_cert.der": "75db5381641f33e14f4c08e6c3b8c13317b2a52067203ddfaacb511f68931f46",
        "PAI_cert.der": "bfba6a1f9c7a48208d89cd294913cbe09798dc17cd983c7b658a3b2f7df5eb8d",
    }
    for name, digest in digests.items():
        assert hashlib.sha256(_read(os.path.join(NRF_REF, name))).hexdigest() == digest


def _partition_step(tmp_path, json_path):
    r = run_script("generate_partition.py", "-i", str(json_path), "-o", str(tmp_path / "fd"),
                   "--offset", "0xfb000", "--size", "0x1000", "--raw")
    assert r.code == 0, r.stderr
    return _read(tmp_path / "fd.bin"), _read(tmp_path / "fd.hex")


def test_generate_factory_data_all_specified(tmp_path):
    out = tmp_path / "fd.json"
    r = run_script("generate_factory_data.py", *ref_args(str(out), sw_ver_str="v2.2"))
    assert r.code == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["sn"] == "SN:12345678"
    assert data["vendor_id"] == 0x127F and data["product_id"] == 0xABCD
    assert data["vendor_name"] == "Nordic Semiconductor ASA" and data["product_name"] == "Lock Gen2"
    assert data["part_number"] == "PCA10056" and data["product_url"] == "https://example.com/lock"
    assert data["product_label"] == "Lock" and data["date"] == "2022-07-20"
    assert data["hw_ver"] == 101 and data["hw_ver_str"] == "v1.1" and data["sw_ver_str"] == "v2.2"
    assert data["dac_key"] == "hex:" + DAC_RAW_KEY
    assert data["dac_cert"] == "hex:" + _read(os.path.join(NRF_REF, "DAC_cert.der")).hex()
    assert data["pai_cert"] == "hex:" + _read(os.path.join(NRF_REF, "PAI_cert.der")).hex()
    assert data["passcode"] == 13243546
    assert data["spake2_it"] == 2000
    assert data["spake2_salt"] == "hex:" + base64.b64decode(SALT_B64).hex()
    assert data["spake2_salt"].startswith("hex:5350414b45325020")
    assert data["spake2_verifier"] == "hex:" + base64.b64decode(V2000_B64).hex()
    assert data["discriminator"] == 0xFED
    assert data["rd_uid"] == "hex:91a9c12a7c80700a31ddcfa7fce63e44"
    assert data["enable_key"] == "hex:00112233445566778899aabbccddeeff"
    assert data["product_finish"] == 2 and data["primary_color"] == 11
    assert data["user"] == USER
    assert list(data) == [
        "version", "sn", "vendor_id", "product_id", "vendor_name", "product_name", "product_label", "product_url",
        "part_number", "date", "hw_ver", "hw_ver_str", "sw_ver_str", "dac_cert", "dac_key", "pai_cert", "passcode",
        "spake2_it", "spake2_salt", "spake2_verifier", "discriminator", "rd_uid", "enable_key", "product_finish",
        "primary_color", "user",
    ]
    text = out.read_text()
    assert text == json.dumps(data) and not text.endswith("\n")
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    binary, _ = _partition_step(tmp_path, out)
    assert binary.startswith(bytes.fromhex("b81a6776657273696f6e01"))  # 26 pairs (sw_ver_str added)
    assert binary.endswith(b"\x00")
    assert cbor2.loads(binary[:-1])["sw_ver_str"] == b"v2.2"


def test_generate_factory_data_reference_test1_cbor_fragments(tmp_path):
    out = tmp_path / "fd.json"
    assert run_script("generate_factory_data.py", *ref_args(str(out))).code == 0
    binary, hex_text = _partition_step(tmp_path, out)
    assert binary[:11] == bytes.fromhex("b8196776657273696f6e01")  # 25 pairs
    for fragment in (
        "627" + "36e" + "4b" + b"SN:12345678".hex(),
        "6b" + b"vendor_name".hex() + "5818" + b"Nordic Semiconductor ASA".hex(),
        "6d" + b"discriminator".hex() + "190fed",
        "64" + b"user".hex() + "a3" + "64" + b"name".hex() + "6c" + b"product_name".hex() + "67"
        + b"version".hex() + "187b" + "68" + b"revision".hex() + "65" + b"0x123".hex(),
    ):
        assert fragment in binary.hex()
    assert hex_text.decode().splitlines()[0] == ":02000004000FEB"
    assert hex_text.decode().endswith(":00000001FF\n")


def test_generate_spake2p_verifier_default(tmp_path):
    out = tmp_path / "fd.json"
    args = ref_args(str(out), product_name="Lock", part_number=None, product_url=None, product_label=None,
                    include_passcode=None, spake2_it="1000", passcode="20202021", spake2_verifier=None,
                    rd_uid=None, enable_key=None, product_color=None, product_finish=None)
    r = run_script("generate_factory_data.py", *args)
    assert r.code == 0, r.stderr
    data = json.loads(out.read_text())
    assert "passcode" not in data
    assert data["spake2_salt"] == "hex:" + base64.b64decode(SALT_B64).hex()
    assert data["spake2_it"] == 1000
    assert data["spake2_verifier"] == "hex:" + base64.b64decode(V1000_B64).hex()
    assert data["user"] == USER
    assert list(data) == ["version", "sn", "vendor_id", "product_id", "vendor_name", "product_name", "date",
                          "hw_ver", "hw_ver_str", "dac_cert", "dac_key", "pai_cert", "spake2_it", "spake2_salt",
                          "spake2_verifier", "discriminator", "user"]
    binary, _ = _partition_step(tmp_path, out)
    assert binary[0] == 0xB1  # 17 pairs


def test_generate_onboarding_codes(tmp_path):
    out = tmp_path / "fd.json"
    args = ref_args(str(out), product_color=None, product_finish=None, generate_onboarding=True)
    r = run_script("generate_factory_data.py", *args)
    assert r.code == 0, r.stderr
    txt = (tmp_path / "fd.txt").read_text()
    assert txt == "Manualcode : 35442608082\nQRCode : MT:KAYA3EYF15ND8B1OA00"
    assert (tmp_path / "fd.png").exists()
    import zxingcpp
    from PIL import Image

    assert [x.text for x in zxingcpp.read_barcodes(Image.open(tmp_path / "fd.png"))] == ["MT:KAYA3EYF15ND8B1OA00"]


def test_generator_offset_size_writes_same_partition_as_partition_script(tmp_path):
    out = tmp_path / "gen" / "fd"
    out.parent.mkdir()
    r = run_script("generate_factory_data.py", *ref_args(str(out), offset="0xfb000", size="0x1000"))
    assert r.code == 0, r.stderr
    binary, hex_text = _partition_step(tmp_path, str(out) + ".json")
    assert _read(str(out) + ".bin") == binary
    assert _read(str(out) + ".hex") == hex_text


# ---------------------------------------------------------------- partition script (upstream tests)

UPSTREAM_PARTITION = [
    ({"key": "hex:deadbeef"}, "key", b"\xde\xad\xbe\xef", False),
    ({"name": "hello"}, "name", b"hello", False),
    ({"version": 42}, "version", 42, False),
    ({"user": {"raw": "hex:cafe"}}, "user", {"raw": b"\xca\xfe"}, True),
    ({"user": {"name": "test"}}, "user", {"name": "test"}, False),
    ({"user": {"value": 11}}, "user", {"value": 11}, False),
]


@pytest.mark.parametrize("doc,key,expected,upstream", UPSTREAM_PARTITION)
def test_upstream_partition_cases(tmp_path, doc, key, expected, upstream):
    (tmp_path / "fd.json").write_text(json.dumps(doc))
    args = ["--offset", "0x0", "--size", "0x1000", "--input", str(tmp_path / "fd.json"),
            "--output", str(tmp_path / "partition"), "--raw"]
    if upstream:
        args.append("--user_hex_as_bytes")
    r = run_script("generate_partition.py", *args)
    assert r.code == 0, r.stderr
    binary = _read(tmp_path / "partition.bin")
    assert binary[-1] == 0
    assert cbor2.loads(binary[:-1])[key] == expected


@pytest.mark.parametrize("doc,hex_bin", [
    ({"key": "hex:deadbeef"}, "a1636b657944deadbeef00"),
    ({"user": {"raw": "hex:cafe"}}, "a16475736572a163726177686865783a6361666500"),
    ({"name": "hello", "version": 42}, "a2646e616d654568656c6c6f6776657273696f6e182a00"),
])
def test_exact_cbor_vectors(tmp_path, doc, hex_bin):
    (tmp_path / "in.json").write_text(json.dumps(doc))
    r = run_script("partition", "-i", str(tmp_path / "in.json"), "-o", str(tmp_path / "p"), "--offset", "0",
                   "--size", "0x1000", "-r")
    assert r.code == 0, r.stderr
    assert _read(tmp_path / "p.bin").hex() == hex_bin


def test_nested_hex_upstream_option_vector(tmp_path):
    (tmp_path / "in.json").write_text('{"user":{"raw":"hex:cafe"}}')
    r = run_script("partition", "-i", str(tmp_path / "in.json"), "-o", str(tmp_path / "p"), "--offset", "0",
                   "--size", "0x1000", "--user_hex_as_bytes")
    assert r.code == 0
    assert _read(tmp_path / "p.bin").hex() == "a16475736572a16372617742cafe00"
    assert "GetUserData" in r.stderr


SMALL_JSON = ('{"version": 1, "sn": "SN1", "vendor_id": 65521, "date": "2022-01-01", '
              '"rd_uid": "hex:91A9C12A7C80700A31DDCFA7FCE63E44", "user": {"a": "hex:cafe", "b": 1, "c": "txt"}}')
SMALL_BIN = ("a66776657273696f6e0162736e43534e316976656e646f725f696419fff164646174654a323032322d30312d30316672645f75"
             "69645091a9c12a7c80700a31ddcfa7fce63e446475736572a36161686865783a6361666561620161636374787400")


def test_small_exact_vector_bin_and_hex(tmp_path):
    (tmp_path / "small.json").write_text(SMALL_JSON)
    r = run_script("generate_partition.py", "-i", str(tmp_path / "small.json"), "-o", str(tmp_path / "small"),
                   "--offset", "0x0", "--size", "0x1000")
    assert r.code == 0, r.stderr
    binary = _read(tmp_path / "small.bin")
    assert len(binary) == 97 and binary.hex() == SMALL_BIN
    lines = _read(tmp_path / "small.hex").decode().split("\n")
    assert lines[-1] == "" and lines[-2] == ":00000001FF"
    records = lines[:-2]
    assert len(records) == 7 and all(rec.startswith(":10") for rec in records[:6])
    assert records[-1] == ":01006000009F"
    assert not any(rec[7:9] == "04" for rec in records)  # no ELA below 64 KiB
    # every record's checksum and payload are right
    payload = b""
    for rec in records:
        raw = bytes.fromhex(rec[1:])
        assert sum(raw) & 0xFF == 0
        payload += raw[4:-1]
    assert payload == binary


def test_hex_crosses_64k_boundary_with_ela_records(tmp_path):
    (tmp_path / "small.json").write_text(SMALL_JSON)
    r = run_script("partition", "-i", str(tmp_path / "small.json"), "-o", str(tmp_path / "x"),
                   "--offset", "0xfffd0", "--size", "0x1000")
    assert r.code == 0
    lines = _read(tmp_path / "x.hex").decode().splitlines()
    assert lines[0] == ":02000004000FEB"
    assert ":020000040010EA" in lines
    from intelhex import IntelHex

    ih = IntelHex(str(tmp_path / "x.hex"))
    assert ih.tobinstr(start=0xFFFD0, end=0xFFFD0 + 96).hex() == SMALL_BIN


def test_size_check_counts_terminator(tmp_path):
    (tmp_path / "small.json").write_text(SMALL_JSON)
    r = run_script("partition", "-i", str(tmp_path / "small.json"), "-o", str(tmp_path / "x"), "--offset", "0",
                   "--size", "96")
    assert r.code == 2
    assert "97 bytes (96 bytes of CBOR + 1 terminator byte)" in r.stderr and "holds 96" in r.stderr
    assert not (tmp_path / "x.hex").exists() and not (tmp_path / "x.bin").exists()
    r = run_script("partition", "-i", str(tmp_path / "small.json"), "-o", str(tmp_path / "x"), "--offset", "0",
                   "--size", "97")
    assert r.code == 0
