"""NXP factory data binary: the worked examples of spec/nxp.md §2.7 byte for byte, round trips, a decoder
fed corrupted images, and every validation the reference lacks."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matter_factory_data.errors import InvalidInput
from matter_factory_data.formats import nxp
from matter_factory_data.inspection import inspect_nxp
from conftest import CREDS, FIXTURES, assert_clean_error, command_line, run_script

DEMO = os.path.join(FIXTURES, "nxp-demo")
KEY = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
TOY = {7: 1000, 8: 14014, 9: 0x1037, 10: 0xA220, 12: "NXP", 16: 1}
TOY_PAYLOAD = bytes.fromhex("070400E8030000 080400BE360000 0902003710 0A020020A2 0C03004E5850 1002000100".replace(" ", ""))
ECB_FILE = bytes.fromhex(
    "5EBA47CE30000000E7AE5BCF"
    "418FF7FF861C7098F37386A0C4AC3302EC9217805232BEB077DE3C3903BF"
    "A5C2FDF3D9DFCD52350D21D5DCDA578F3228")
SALT = "UXKLzwHdN3DZZLBaL2iVGhQi/OoQwIwJRQV4rpEalbA="
VERIFIER = ("ivD5n3L2t5+zeFt6SjW7BhHRF30gFXWZVvvXgDxgCNcE+BGuTA5AUaVm3qDZBcMMKn1a6CakI4SxyPUnJr0CpJ4pwpr0DvpTlkQK"
            "qaRvkOQfAQ1XDyf55DuavM5KVGdDrg==")


def test_framing_vectors():
    payload = nxp.encode_payload(TOY)
    assert payload == TOY_PAYLOAD and len(payload) == 35
    plain = nxp.plain_image(payload)
    assert plain[:12] == bytes.fromhex("5EBA47CE2300000043F87109") and plain[12:] == payload and len(plain) == 47
    assert nxp.encrypted_image(payload, KEY) == ECB_FILE
    wrapped = nxp.hw_params_image(plain)
    assert wrapped == b"APP_FACT_DATA:  " + bytes.fromhex("2F000000") + plain + bytes.fromhex("D1A9")
    assert nxp.crc16_xmodem(b"123456789") == 0x31C3


def test_ecb_pads_a_whole_block_when_aligned():
    payload = nxp.encode_payload({8: 1, 9: 2, 10: 3})  # 7 + 5 + 5 = 17 bytes -> 32
    assert len(payload) == 17 and int.from_bytes(nxp.encrypted_image(payload, KEY)[4:8], "little") == 32
    aligned = nxp.encode_payload({12: "A" * 13})  # 3 + 13 = 16 bytes -> padded to 32
    assert len(aligned) == 16 and int.from_bytes(nxp.encrypted_image(aligned, KEY)[4:8], "little") == 32


@pytest.fixture(scope="module")
def cd_der(tmp_path_factory):
    d = tmp_path_factory.mktemp("cd")
    r = run_script("cd", "generate", "--vendor_id", "0x1037", "--product_id", "0xA220", "--device_type", "0x100",
                   "--signing_cert", os.path.join(CREDS, "test-cd", "Chip-Test-CD-Signing-Cert.pem"),
                   "--signing_key", os.path.join(CREDS, "test-cd", "Chip-Test-CD-Signing-Key.pem"),
                   "--out", str(d / "cd.der"))
    assert r.code == 0
    return str(d / "cd.der")


def doc_args(cd, out, **over):
    args = {
        "-i": "10000", "-s": SALT, "-p": "14014", "-d": "1000", "--vid": "0x1037", "--pid": "0xA220",
        "--vendor_name": "NXP Semiconductors", "--product_name": "Lighting app", "--serial_num": "12345678",
        "--date": "2023-01-01", "--hw_version": "1", "--hw_version_str": "1.0", "--cert_declaration": cd,
        "--dac_cert": os.path.join(DEMO, "dac/dut1/Chip-DAC-NXP-1037-A220-Cert.der"),
        "--dac_key": os.path.join(DEMO, "dac/dut1/Chip-DAC-NXP-1037-A220-Key.pem"),
        "--pai_cert": os.path.join(DEMO, "pai/Chip-PAI-NXP-1037-A220-Cert.der"),
        "--unique_id": "00112233445566778899aabbccddeeff", "--spake2p_path": "/opt/nxp/spake2p", "--out": out,
    }
    return command_line(args, [], over)


def entries_of(path):
    return dict(nxp.read(open(path, "rb").read()).entries)


def test_entry_vectors_from_the_nxp_guide(tmp_path, cd_der):
    out = str(tmp_path / "fd.bin")
    r = run_script("nxp", *doc_args(cd_der, out))
    assert r.code == 0, r.stderr
    e = entries_of(out)
    assert e[1] == VERIFIER.encode() and len(e[1]) == 132
    assert e[2] == SALT.encode() and len(e[2]) == 44
    assert e[3] == bytes.fromhex("10270000") and e[7] == bytes.fromhex("E8030000") and e[8] == bytes.fromhex("BE360000")
    assert e[9] == bytes.fromhex("3710") and e[10] == bytes.fromhex("20A2")
    assert e[15] == b"2023-01-01" and e[18] == b"00112233445566778899aabbccddeeff"
    assert e[4] == bytes.fromhex("A9AE30C519F359D5C8B6913EFCFAE84C6281393C6A050C6F6C880A0074AEFF42")
    assert len(e[5]) == 490 and e[5] == open(os.path.join(DEMO, "dac/dut1/Chip-DAC-NXP-1037-A220-Cert.der"), "rb").read()
    raw = open(out, "rb").read()
    assert raw[12:12 + 3] == bytes.fromhex("018400") and list(e) == sorted(e)
    assert os.stat(out).st_mode & 0o777 == 0o600
    # the guide's spake2p verifier is given explicitly: same bytes
    r = run_script("nxp", *doc_args(cd_der, str(tmp_path / "fd2.bin"), spake2p_verifier=VERIFIER))
    assert r.code == 0 and open(tmp_path / "fd2.bin", "rb").read() == raw


def test_encrypted_and_hw_params_outputs_decode(tmp_path, cd_der):
    enc = str(tmp_path / "enc.bin")
    assert run_script("nxp", *doc_args(cd_der, enc, aes128_key=KEY.hex())).code == 0
    plain = str(tmp_path / "plain.bin")
    assert run_script("nxp", *doc_args(cd_der, plain)).code == 0
    d = nxp.read(open(enc, "rb").read(), KEY)
    assert d.wrapper == "ecb" and dict(d.entries) == entries_of(plain)
    r = run_script("inspect", enc, "--aes128_key", KEY.hex())
    assert r.code == 0 and "ecb image" in r.stdout and "result: OK" in r.stdout
    k256 = bytes(range(32))
    enc256 = str(tmp_path / "enc256.bin")
    assert run_script("nxp", *doc_args(cd_der, enc256, aes256_key=k256.hex())).code == 0
    assert dict(nxp.read(open(enc256, "rb").read(), k256).entries) == entries_of(plain)
    hw = str(tmp_path / "hw.bin")
    r = run_script("nxp", *doc_args(cd_der, hw, hw_params=True, platform="k32w1"))
    assert r.code == 0 and "loadfile hw.bin 0xFE080" in r.stdout
    data = open(hw, "rb").read()
    assert data.startswith(b"APP_FACT_DATA:  ") and data[20:-2] == open(plain, "rb").read()
    r = run_script("inspect", hw)
    assert r.code == 0 and "hw_params image" in r.stdout


def test_platform_hints_and_hex(tmp_path, cd_der):
    out = str(tmp_path / "fd.bin")
    r = run_script("nxp", *doc_args(cd_der, out, platform="k32w0", hex=str(tmp_path / "fd.hex")))
    assert r.code == 0 and 'FLASH@0x9D600="fd.bin"' in r.stdout
    from intelhex import IntelHex

    ih = IntelHex(str(tmp_path / "fd.hex"))
    assert ih.minaddr() == 0x9D600 and ih.tobinstr() == open(out, "rb").read()
    assert_clean_error(run_script("nxp", *doc_args(cd_der, out, platform="rt1060")), 2, "--address", "__FACTORY_DATA_START")
    before = open(out, "rb").read()
    assert_clean_error(run_script("nxp", *doc_args(cd_der, out, platform="rt1170", address="0x60F00000")), 1,
                       "already exists (use --overwrite to replace it)")
    assert open(out, "rb").read() == before
    r = run_script("nxp", *doc_args(cd_der, out, platform="rt1170", address="0x60F00000"), "--overwrite")
    assert r.code == 0 and "0x60F00000" in r.stdout
    assert_clean_error(run_script("nxp", *doc_args(cd_der, out, platform="k32w0", aes128_key=KEY.hex())), 2,
                       "cannot decrypt")


@pytest.mark.parametrize("over,fragment", [
    ({"-p": "11111111"}, "--passcode"),
    ({"-p": "12345678", "spake2p_verifier": VERIFIER}, "--passcode"),
    ({"-p": "100000000"}, "--passcode"),
    ({"-d": "4096"}, "--discriminator: 4096 is out of range"),
    ({"-i": "999"}, "--it"),
    ({"-s": base64.b64encode(b"x" * 15).decode()}, "--salt"),
    ({"spake2p_verifier": base64.b64encode(b"\x01" * 97).decode()}, "--spake2p_verifier"),
    ({"-p": "14015", "spake2p_verifier": VERIFIER}, "does not match"),
    ({"--vid": "0x10000"}, "--vid"),
    ({"date": "2023-02-30"}, "calendar"),
    ({"date": "01/01/2023"}, "YYYY-MM-DD"),
    ({"vendor_name": "N" * 33}, "--vendor_name"),
    ({"product_url": "u" * 257}, "--product_url"),
    ({"product_finish": "matte"}, "invalid choice"),
    ({"dac_key_password": "secret"}, "not encrypted"),
    ({"aes128_key": "00" * 15}, "must be 16 bytes"),
    ({"aes256_key": "zz"}, "not a hex string"),
    ({"aes128_key": KEY.hex(), "aes256_key": "00" * 32}, "give one key"),
    ({"aes128_key": KEY.hex(), "hw_params": True}, "--hw_params"),
    ({"dac_key_use_sss_blob": True}, "blob is"),
    ({"EL2GO_bin": os.path.join(DEMO, "paa/Chip-PAA-NXP-Cert.der")}, "--EL2GO_bin"),
    ({"dac_cert": None}, "--dac_cert/--dac_key"),
    ({"--pid": "0xA221"}, "differs"),
    ({"unique_id": "0011"}, "at least 16 bytes"),
    ({"dac_key": os.path.join(DEMO, "dac/dut2/Chip-DAC-NXP-1037-A220-Key.pem")}, "DAC key does not match"),
])
def test_validation(tmp_path, cd_der, over, fragment):
    out = tmp_path / "fd.bin"
    r = run_script("nxp", *doc_args(cd_der, str(out), **over))
    assert_clean_error(r, 2, fragment)
    assert not out.exists()


def test_dac_key_password_and_pem_inputs(tmp_path, cd_der):
    from cryptography.hazmat.primitives import serialization as s

    key = s.load_pem_private_key(open(os.path.join(DEMO, "dac/dut1/Chip-DAC-NXP-1037-A220-Key.pem"), "rb").read(), None)
    enc = tmp_path / "key_enc.der"
    enc.write_bytes(key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(b"pw")))
    out = tmp_path / "fd.bin"
    r = run_script("nxp", *doc_args(cd_der, str(out), dac_key=str(enc), dac_key_password="pw",
                                    dac_cert=os.path.join(DEMO, "dac/dut1/Chip-DAC-NXP-1037-A220-Cert.pem")))
    assert r.code == 0, r.stderr
    e = entries_of(out)
    assert e[4] == bytes.fromhex("A9AE30C519F359D5C8B6913EFCFAE84C6281393C6A050C6F6C880A0074AEFF42")
    assert e[5][:2] == b"\x30\x82"  # PEM certificate stored as DER


def test_unique_id_hex_option_and_pad16(tmp_path, cd_der):
    out = tmp_path / "fd.bin"
    assert run_script("nxp", *doc_args(cd_der, str(out), unique_id_hex=True, pad16=True)).code == 0
    d = nxp.read(out.read_bytes())
    assert dict(d.entries)[18] == bytes.fromhex("00112233445566778899aabbccddeeff")
    assert d.size % 16 == 0 and d.padding == d.size - sum(3 + len(v) for _, v in d.entries)


@pytest.mark.parametrize("damage,fragment", [
    (lambda b: b[:5] + bytes([b[5] ^ 0xFF]) + b[6:], "exceeds"),
    (lambda b: b[:40] + bytes([b[40] ^ 1]) + b[41:], "SHA-256 does not match"),
    (lambda b: b[:-10], "exceeds"),
    (lambda b: b"\x00\x00\x00\x00" + b[4:], "magic"),
    (lambda b: b[:6], "shorter than the 12-byte header"),
])
def test_decoder_reports_corruption(damage, fragment):
    image = nxp.plain_image(TOY_PAYLOAD)
    with pytest.raises(InvalidInput, match=fragment):
        nxp.read(damage(image))
    ins = inspect_nxp(damage(image), "x.bin")
    assert not ins.ok and fragment.split()[0] in ins.errors[0]


def test_decoder_wrong_key_and_bad_crc():
    with pytest.raises(InvalidInput, match="wrong AES key"):
        nxp.read(ECB_FILE, bytes(16))
    with pytest.raises(InvalidInput, match="encrypted"):
        nxp.read(ECB_FILE)
    wrapped = bytearray(nxp.hw_params_image(nxp.plain_image(TOY_PAYLOAD)))
    wrapped[-1] ^= 1
    with pytest.raises(InvalidInput, match="CRC"):
        nxp.read(bytes(wrapped))
    truncated_entry = nxp.plain_image(TOY_PAYLOAD[:-1])
    with pytest.raises(InvalidInput, match="truncated"):
        nxp.read(truncated_entry)
    unknown = nxp.plain_image(bytes.fromhex("630100FF"))
    with pytest.raises(InvalidInput, match="unknown tag 99"):
        nxp.read(unknown)


entry_values = st.fixed_dictionaries({
    3: st.integers(1000, 100000), 7: st.integers(0, 4095), 8: st.integers(1, 99999998),
    9: st.integers(0, 0xFFFF), 10: st.integers(0, 0xFFFF), 12: st.text(max_size=10).filter(lambda s: len(s.encode()) <= 32),
    2: st.binary(min_size=16, max_size=32), 18: st.binary(min_size=16, max_size=32), 22: st.integers(0, 5),
})


@settings(max_examples=200, deadline=None)
@given(entries=entry_values, key=st.one_of(st.none(), st.binary(min_size=16, max_size=16), st.binary(min_size=32, max_size=32)),
       hw=st.booleans())
def test_roundtrip(entries, key, hw):
    payload = nxp.encode_payload(entries)
    image = nxp.encrypted_image(payload, key) if key else nxp.plain_image(payload)
    if hw and not key:
        image = nxp.hw_params_image(image)
    d = nxp.read(image, key)
    assert {t: nxp.decode_value(t, r) for t, r in d.entries} == entries


def test_batch_format_nxp(tmp_path, cd_der):
    import csv

    r = run_script("batch", "--format", "nxp", "--count", "12", "--vendor_id", "0x1037", "--product_id", "0xA220",
                   "--vendor_name", "NXP", "--product_name", "Demo", "--date", "2024-05-01",
                   "--pai_cert", os.path.join(DEMO, "pai/Chip-PAI-NXP-1037-A220-Cert.der"),
                   "--pai_key", os.path.join(DEMO, "pai/Chip-PAI-NXP-1037-A220-Key.pem"), "--cd", cd_der,
                   "--out", str(tmp_path), "--quiet")
    assert r.code == 0, r.stderr
    bd = tmp_path / "1037_a220"
    rows = list(csv.DictReader(open(bd / "manifest.csv")))
    assert len(rows) == 12
    for row in rows:
        image = (bd / row["path"] / "factory_data.bin").read_bytes()
        ins = inspect_nxp(image, "factory_data.bin")
        assert ins.ok, ins.errors
        assert ins.doc["passcode"] == int(row["passcode"]) and ins.doc["discriminator"] == int(row["discriminator"])
        assert ins.doc["serial_number"] == row["serial"]
        assert not (bd / row["path"] / "factory_data.hex").exists()
    assert_clean_error(run_script("batch", "--format", "nxp", "--count", "2", "--vendor_id", "0x1037",
                                  "--product_id", "0xA220", "--vendor_name", "NXP", "--product_name", "Demo",
                                  "--date", "2024-05-01",
                                  "--pai_cert", os.path.join(DEMO, "pai/Chip-PAI-NXP-1037-A220-Cert.der"),
                                  "--pai_key", os.path.join(DEMO, "pai/Chip-PAI-NXP-1037-A220-Key.pem"),
                                  "--out", str(tmp_path / "x")), 2, "--cd", "required with --format nxp")


def test_k32w0_per_tag_maxima(tmp_path, cd_der):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(56))
    r = run_script("nxp", *doc_args(cd_der, str(tmp_path / "fd.bin"), platform="k32w0", dac_key=str(blob),
                                    dac_key_use_sss_blob=True))
    assert_clean_error(r, 2, "dac_key", "K32W0 reader accepts at most 32")
    assert not (tmp_path / "fd.bin").exists()


def test_prints_the_lines_scripts_read_from_nxp_generate_py(tmp_path, cd_der):
    """generate.py logs the section hash, the sizes and the SHA-256 on stdout; scripts read them."""
    import hashlib

    plain = str(tmp_path / "plain.bin")
    r = run_script("nxp", *doc_args(cd_der, plain))
    data = open(plain, "rb").read()
    payload = data[12:]
    assert r.code == 0 and r.stdout.splitlines()[:3] == [
        f"[INFO] 4 byte section hash (for integrity check): {hashlib.sha256(payload).hexdigest()[:8]}",
        f"[INFO] Size of final generated binary is: {len(data)} bytes",
        f"[INFO] SHA256 of generated binary: {hashlib.sha256(data).hexdigest()}"]
    enc = str(tmp_path / "enc.bin")
    r = run_script("nxp", *doc_args(cd_der, enc, aes128_key=KEY.hex()))
    padded = len(payload) + 16 - len(payload) % 16
    assert r.code == 0 and r.stdout.splitlines()[:2] == [
        f"[INFO] (Before padding) Size of generated binary is: {len(payload)} bytes",
        f"[INFO] (After padding) Size of generated binary is: {padded} bytes"]
    hw = str(tmp_path / "hw.bin")
    r = run_script("nxp", *doc_args(cd_der, hw, hw_params=True))
    assert r.code == 0 and f"[INFO] Size of final generated binary is: {len(data) + 22} bytes" in r.stdout
    assert f"section hash (for integrity check): {hashlib.sha256(payload).hexdigest()[:8]}" in r.stdout
