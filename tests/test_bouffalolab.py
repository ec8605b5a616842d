"""Bouffalo Lab MFD: byte-identical with generate_factory_data.py on its worked example (plain and encrypted,
tests/fixtures/bouffalolab-reference, fed the values the reference chose), the reference's input bugs fixed,
the device's rules in inspect, clean errors."""

from __future__ import annotations

import base64
import os
import struct

import pytest

from conftest import FIXTURES, run_script
from matter_factory_data.crypto import spake2p
from matter_factory_data.errors import InvalidInput
from matter_factory_data.formats import bouffalolab

REF = os.path.join(FIXTURES, "bouffalolab-reference")
ATT = os.path.join(FIXTURES, "matter-credentials", "test-attestation")
CD = os.path.join(FIXTURES, "matter-credentials", "test-cd", "Test-CD-FFF1-8000.der")
KEY = "000102030405060708090A0B0C0D0E0F"
IV = "0117e9f1f0ce9508abb1151900000000"  # what the reference drew for mfd_encrypted.bin (README)
CREDS = ["--dac_cert", os.path.join(ATT, "Chip-Test-DAC-FFF1-8000-0000-Cert.pem"),
         "--dac_key", os.path.join(ATT, "Chip-Test-DAC-FFF1-8000-0000-Key.pem"),
         "--pai_cert", os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.pem"),
         "--paa_cert", os.path.join(ATT, "Chip-Test-PAA-FFF1-Cert.pem"), "--cd", CD]
# the fixture's command line with the values the reference actually wrote (its passcode and discriminator
# were random) and its salt Base64 once
REFERENCE = ["--chip_cert", "/bin/true", "--vendor_id", "FFF1", "--product_id", "8000", "--vendor_name",
             "TEST_VENDOR", "--product_name", "TEST_PRODUCT", "--sn", "0123456789ABCDEF", "--product_part_no",
             "TEST_PART", "--product_url", "https://example.com", "--product_label", "TEST_LABEL",
             "--manufactoring_date", "2022-01-01", "--hardware_version", "1", "--hardware_version_string", "1.0",
             "--discriminator", "957", "--passcode", "59154128", "--unique_id", "kanBKnyAcAox3c+n/OY+RA==",
             "--spake2p_it", "1000", "--spake2p_salt", base64.b64encode(bytes(range(32))).decode(), *CREDS]


@pytest.mark.parametrize("fixture, extra", [("mfd_plain.bin", []), ("mfd_encrypted.bin", ["--key", KEY, "--iv", IV])])
def test_reference_bytes_are_reachable(tmp_path, fixture, extra):
    r = run_script("bouffalolab", *REFERENCE, "--date_encoding", "string", "--output", str(tmp_path), *extra)
    assert r.code == 0, r.stderr
    assert (tmp_path / "out_fff1_8000_957_mfd.bin").read_bytes() == open(os.path.join(REF, fixture), "rb").read()
    assert (tmp_path / "out_fff1_8000_957_onboard.txt").read_bytes() == open(os.path.join(REF, "onboard.txt"), "rb").read()
    assert sorted(os.listdir(tmp_path)) == ["out_fff1_8000_957_mfd.bin", "out_fff1_8000_957_onboard.png",
                                            "out_fff1_8000_957_onboard.txt"]
    assert "[INFO] Discriminator ID: 957" in r.stderr and "[INFO] Manual code: 05704036101" in r.stderr


def test_defaults_are_what_the_device_reads(tmp_path):
    """The date as 4 bytes, --discriminator and a valid --passcode used (the reference ignores the one and
    refuses the other), discriminator 0 stored as one byte (the reference stores none: mfd_init fails)."""
    r = run_script("bouffalolab", *CREDS, "--vendor_id", "FFF1", "--product_id", "8000", "--passcode", "20202021",
                   "--discriminator", "0", "--manufactoring_date", "2024-05-01", "--spake2p_it", "1000",
                   "--key", KEY, "--output", str(tmp_path / "o"))
    assert r.code == 0, r.stderr
    data = (tmp_path / "o" / "out_fff1_8000_0_mfd.bin").read_bytes()
    values = bouffalolab.read(data, bytes.fromhex(KEY))
    assert values["manufactoring_date"] == bytes([0x07, 0xE8, 5, 1]) and values["discriminator"] == b"\x00"
    assert values["passcode"] == (20202021).to_bytes(4, "little")
    assert len(values["aes_iv"]) == 16 and values["aes_iv"][12:] == bytes(4) and len(set(values["aes_iv"][:12])) == 12
    device = bouffalolab.decode(data, {"aes_key": bytes.fromhex(KEY)})
    assert device.date == "2024-05-01" and device.dac_key == bytes.fromhex(
        "21f2e3e420c0701734810469b6bad15cf3067822c9a4a596c186fa9bef153fa1")
    assert device.spake2_verifier == spake2p.generate_verifier(20202021, device.spake2_salt, 1000)
    r = run_script("inspect", str(tmp_path / "o" / "out_fff1_8000_0_mfd.bin"), "--aes128_key", KEY)
    assert r.code == 0 and ": bouffalolab factory data (" in r.stdout and "result: OK" in r.stdout
    r = run_script("inspect", str(tmp_path / "o" / "out_fff1_8000_0_mfd.bin"))
    assert "secured block: 48 encrypted bytes" in r.stdout


def test_without_a_dac_a_test_dac_is_issued_and_a_cd_generated(tmp_path):
    r = run_script("bouffalolab", "--pai_cert", os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.pem"), "--pai_key",
                   os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Key.pem"), "--vendor_id", "FFF1", "--product_id",
                   "8000", "--discriminator", "100", "--output", str(tmp_path))
    assert r.code == 0, r.stderr
    names = sorted(os.listdir(tmp_path))
    assert {"out_fff1_8000_100_dac-Cert.pem", "out_fff1_8000_100_dac-Key.pem", "out_fff1_8000_cd.der",
            "out_fff1_8000_100_mfd.bin"} <= set(names), names
    assert os.stat(tmp_path / "out_fff1_8000_100_dac-Key.pem").st_mode & 0o777 == 0o600
    r = run_script("inspect", str(tmp_path / "out_fff1_8000_100_mfd.bin"))
    assert r.code == 0 and "result: OK" in r.stdout, r.stdout


@pytest.mark.parametrize("args, message", [
    (["--passcode", "11111111"], "--passcode: 11111111 is not allowed"),
    (["--discriminator", "5000"], "--discriminator: 5000 is out of range"),
    (["--unique_id", base64.b64encode(bytes(8)).decode()], "--unique_id: must be Base64 of 16 bytes, got 8"),
    (["--spake2p_salt", base64.b64encode(bytes(8)).decode()], "--spake2p_salt: must be 16..32 bytes, got 8"),
    (["--spake2p_it", "10"], "--spake2p_it: 10 is out of range"),
    (["--key", "0011"], "--key: must be 16 bytes (32 hex digits), got 2"),
    (["--manufactoring_date", "2022-13-01"], "--manufactoring_date"),
    (["--vendor_id", "FFF1", "--product_id", "8000", "--dac_key", os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Key.pem")],
     "does not match"),
])
def test_bad_inputs_are_one_line_and_write_nothing(tmp_path, args, message):
    base = [*CREDS, "--vendor_id", "FFF1", "--product_id", "8000", "--output", str(tmp_path / "o")]
    r = run_script("bouffalolab", *base, *args)
    assert r.code == 2 and message in r.stderr, r.stderr
    assert r.stderr.startswith("[ERROR] ") and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_inspect_names_crc_key_and_device_rule_failures(tmp_path):
    plain = open(os.path.join(REF, "mfd_plain.bin"), "rb").read()
    broken = bytearray(plain)
    broken[200] ^= 1
    (tmp_path / "crc.bin").write_bytes(bytes(broken))
    r = run_script("inspect", str(tmp_path / "crc.bin"), "--format", "bouffalolab")
    assert r.code != 0 and "MFD: CRC-32 of the plain block is 0x" in r.stdout
    r = run_script("inspect", os.path.join(REF, "mfd_encrypted.bin"), "--aes128_key", "00" * 16)
    assert r.code != 0 and "--aes128_key: does not decrypt the secured block" in r.stdout
    # the reference's date string: the device reads garbage
    r = run_script("inspect", os.path.join(REF, "mfd_plain.bin"))
    assert r.code != 0 and "manufactoring_date: 10 bytes" in r.stdout
    # an empty passcode TLV: mfd_init refuses the MFD
    values = bouffalolab.read(plain)
    values["passcode"] = b""
    values["manufactoring_date"] = bytes([7, 230, 1, 1])
    (tmp_path / "empty.bin").write_bytes(bouffalolab.image({n: values.get(n, b"") for n in bouffalolab.NAMES}, None))
    r = run_script("inspect", str(tmp_path / "empty.bin"))
    assert r.code != 0 and "passcode: empty or missing; the device's mfd_init refuses the MFD" in r.stdout


def test_format_limits():
    from matter_factory_data.model import FactoryData

    with pytest.raises(InvalidInput, match="device: the device's mfd_init refuses an MFD without dac_key, passcode"):
        bouffalolab.encode(FactoryData(sn="x"), {"cd": b"cd"})
    with pytest.raises(InvalidInput, match="sn: is 33 bytes; the MFD holds at most 32"):
        bouffalolab.image({**{n: b"" for n in bouffalolab.NAMES}, "aes_iv": bytes(16), "sn": b"x" * 33}, None)
    with pytest.raises(InvalidInput, match="needs 4120 bytes; the MFD partition holds 4096"):
        bouffalolab.image({**{n: b"" for n in bouffalolab.NAMES}, "aes_iv": bytes(16), "cd": bytes(4000)}, None)
    assert struct.unpack_from("<I", bouffalolab.image({**{n: b"" for n in bouffalolab.NAMES}, "aes_iv": bytes(16),
                                                       "dac_key": bytes(32)}, bytes(16)))[0] == 48


def test_batch_encrypts_each_dac_key_with_the_aes_key(tmp_path):
    import glob

    from matter_factory_data.crypto.der import ec_private_scalar

    common = ["--count", "4", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--vendor_name", "V", "--product_name",
              "P", "--date", "2024-05-01", "--pai_cert", os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.der"),
              "--pai_key", os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Key.der"), "--cd", CD, "--no_png", "--quiet"]
    r = run_script("batch", *common, "--format", "bouffalolab", "--aes128_key", KEY, "--out", str(tmp_path / "b"))
    assert r.code == 0, r.stderr
    devices = sorted(glob.glob(str(tmp_path / "b" / "fff1_8000" / "FFF1*")))
    ivs = set()
    for d in devices:
        data = open(os.path.join(d, "factory_data.bin"), "rb").read()
        assert struct.unpack_from("<I", data)[0] == 48 and "dac_key" not in bouffalolab.read(data)  # encrypted
        values = bouffalolab.read(data, bytes.fromhex(KEY))
        scalar = ec_private_scalar(open(os.path.join(d, "DAC_key.der"), "rb").read(), "key")
        assert values["dac_key"] == scalar.to_bytes(32, "big")
        ivs.add(values["aes_iv"])
        ins = run_script("inspect", os.path.join(d, "factory_data.bin"), "--aes128_key", KEY)
        assert ins.code == 0 and "result: OK" in ins.stdout
    assert len(ivs) == 4
    for path in glob.glob(str(tmp_path / "b" / "**"), recursive=True) + glob.glob(str(tmp_path / "b" / "**" / ".*"),
                                                                                 recursive=True):
        if os.path.isfile(path):  # the key itself is written nowhere
            assert bytes.fromhex(KEY) not in open(path, "rb").read() and KEY.lower().encode() not in \
                open(path, "rb").read().lower()
    r = run_script("batch", *common, "--format", "ti", "--aes128_key", KEY, "--out", str(tmp_path / "x"))
    assert r.code == 2 and "--aes128_key: only --format bouffalolab encrypts" in r.stderr
    r = run_script("batch", *common, "--format", "bouffalolab", "--aes128_key", "00ff", "--out", str(tmp_path / "x"))
    assert r.code == 2 and "--aes128_key: must be 32 hex digits" in r.stderr and not (tmp_path / "x").exists()
