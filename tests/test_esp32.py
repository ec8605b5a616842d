"""ESP32 NVS factory partitions: byte-identical with esp-matter-mfg-tool for the same values, readable by our
NVS reader (also esp-matter-mfg-tool's encrypted ones), and the batch engine's esp32 images."""

from __future__ import annotations

import base64
import csv
import glob
import os
import shutil
import subprocess

import pytest

from matter_factory_data import attestation, keys
from matter_factory_data.formats import esp32
from matter_factory_data.inspect import inspect_esp32
from conftest import CREDS, ROOT, run_script

TEST = os.path.join(CREDS, "test-attestation")
V1000 = ("uWFwqugDNGiEck/po7KHwwMwwqZgN10XuyBajPGuyzUEV/iree4lOrao5GuwnlQ65CJzbeUB49s31EH+NEkg0JVI5MGCQGMMT/SRPFNRODm3wH/"
         "MBiehuFc6FJ/NH6Rmzw==")


def esp_tool() -> str:
    exe = os.environ.get("ESP_MATTER_MFG_TOOL") or os.path.join(ROOT, ".venv-esp", "bin", "esp-matter-mfg-tool")
    if not os.path.exists(exe):
        exe = shutil.which("esp-matter-mfg-tool") or exe
    if not os.path.exists(exe):
        if os.environ.get("CI"):
            raise AssertionError("esp-matter-mfg-tool is not installed (tests/setup.sh installs it into .venv-esp)")
        pytest.skip("esp-matter-mfg-tool not installed")
    return exe


@pytest.fixture(scope="module")
def cd_der(tmp_path_factory):
    d = tmp_path_factory.mktemp("cd")
    r = run_script("cd", "generate", "--vendor_id", "0xFFF1", "--product_id", "0x8000",
                   "--signing_cert", os.path.join(CREDS, "test-cd", "Chip-Test-CD-Signing-Cert.pem"),
                   "--signing_key", os.path.join(CREDS, "test-cd", "Chip-Test-CD-Signing-Key.pem"),
                   "--out", str(d / "cd.der"))
    assert r.code == 0
    return str(d / "cd.der")


def run_esp(cwd, *args):
    p = subprocess.run([esp_tool(), *args, "--outdir", "out"], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return [p for p in glob.glob(os.path.join(cwd, "out", "*", "*", "*-partition.bin"))
            if not p.endswith("-keys-partition.bin")]


@pytest.mark.parametrize("extra,values", [
    ([], {}),
    (["--vendor-name", "Acme", "--product-name", "Lamp", "--hw-ver", "1", "--hw-ver-str", "1.0", "--mfg-date",
      "2024-05-01", "--enable-rotating-device-id", "--rd-id-uid", "00112233445566778899aabbccddeeff",
      "--product-finish", "satin", "--product-color", "red", "--part-number", "P1", "--product-label", "L",
      "--product-url", "http://x"],
     dict(vendor_name="Acme", product_name="Lamp", hw_ver=1, hw_ver_str="1.0", date="2024-05-01",
          rd_uid=bytes.fromhex("00112233445566778899aabbccddeeff"), product_finish=2, product_color=11,
          part_number="P1", product_label="L", product_url="http://x")),
])
def test_partition_is_byte_identical_with_esp_matter_mfg_tool(tmp_path, cd_der, extra, values):
    shutil.copy(cd_der, tmp_path / "cd.der")
    (ref_path,) = run_esp(str(tmp_path), "-v", "0xFFF1", "-p", "0x8000", "--serial-num", "SN0001",
                          "--passcode", "20202021", "--discriminator", "3840", "--salt", "U1BBS0UyUCBLZXkgU2FsdA==",
                          "--verifier", V1000, "--iteration-count", "1000",
                          "--dac-cert", os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Cert.pem"),
                          "--dac-key", os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Key.pem"),
                          "--pai", "-c", os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.pem"), "-cd", "cd.der", *extra)
    scalar = keys.load_dac_scalar(os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Key.der"), "key")
    v = dict(discriminator=3840, iteration_count=1000, salt=base64.b64decode("U1BBS0UyUCBLZXkgU2FsdA=="),
             vendor_id=0xFFF1, product_id=0x8000, serial="SN0001",
             dac_cert=open(os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Cert.der"), "rb").read(),
             dac_key=scalar.to_bytes(32, "big"), dac_pub_key=attestation.public_point(scalar),
             pai_cert=open(os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.der"), "rb").read(),
             verifier=base64.b64decode(V1000), cd=open(cd_der, "rb").read(), **values)
    ours = esp32.partition([(esp32.NAMESPACE, esp32.chip_factory_entries(v))])
    ref = open(ref_path, "rb").read()
    assert len(ours) == len(ref) == 0x6000
    assert ours == ref
    # and both read back to the same values
    assert esp32.read(ref) == esp32.read(ours)
    ins = inspect_esp32(ref, "ref.bin")
    assert ins.ok, ins.errors


def test_reader_decrypts_esp_matter_mfg_tool_encryption(tmp_path, cd_der):
    shutil.copy(cd_der, tmp_path / "cd.der")
    run_esp(str(tmp_path), "-v", "0xFFF1", "-p", "0x8000", "--pai", "-k", os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Key.pem"),
            "-c", os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.pem"), "-cd", "cd.der", "-e")
    (part,) = [p for p in glob.glob(str(tmp_path / "out" / "*" / "*" / "*-partition.bin"))
               if not p.endswith("-keys-partition.bin")]
    (keys_bin,) = glob.glob(str(tmp_path / "out" / "*" / "*" / "*-keys-partition.bin"))
    data, key = open(part, "rb").read(), open(keys_bin, "rb").read()
    with pytest.raises(Exception):
        esp32.read(data)  # encrypted entries do not parse
    values = esp32.read(esp32.decrypt_entries(data, key))["chip-factory"]
    (summary,) = glob.glob(str(tmp_path / "out" / "*" / "summary-*.csv"))
    row = next(csv.DictReader(open(summary, newline="")))
    assert values["discriminator"] == int(row["discriminator"]) and values["salt"] == row["salt"]
    r = run_script("inspect", part, "--keys", keys_bin)
    assert r.code == 0, r.stdout
    assert "result: OK" in r.stdout


def test_batch_format_esp32(tmp_path, cd_der):
    r = run_script("batch", "--format", "esp32", "--count", "6", "--vendor_id", "0xFFF1", "--product_id", "0x8000",
                   "--vendor_name", "Acme", "--product_name", "Lamp", "--date", "2024-05-01",
                   "--pai_cert", os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.der"),
                   "--pai_key", os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Key.der"), "--cd", cd_der,
                   "--out", str(tmp_path), "--quiet")
    assert r.code == 0, r.stderr
    bd = tmp_path / "fff1_8000"
    rows = list(csv.DictReader(open(bd / "manifest.csv", newline="")))
    for row in rows:
        data = (bd / row["path"] / "partition.bin").read_bytes()
        assert len(data) == 0x6000
        cf = esp32.read(data)["chip-factory"]
        assert cf["serial-num"] == row["serial"] and cf["discriminator"] == int(row["discriminator"])
        assert cf["salt"] == row["spake2_salt"]
        from matter_factory_data import spake2p

        assert spake2p.verifier_matches(base64.b64decode(cf["verifier"]), int(row["passcode"]),
                                        base64.b64decode(row["spake2_salt"]), 1000)
        assert inspect_esp32(data, "partition.bin").ok


def test_reader_rejects_corruption():
    data = bytearray(esp32.partition([(esp32.NAMESPACE, [("discriminator", "u32", 5), ("salt", "string", "abc")])]))
    assert esp32.read(bytes(data))["chip-factory"] == {"discriminator": 5, "salt": "abc"}
    bad = bytearray(data)
    bad[64 + 32 + 10] ^= 1  # inside the first item's key
    with pytest.raises(Exception, match="CRC"):
        esp32.read(bytes(bad))
    bad = bytearray(data)
    bad[20] ^= 1  # page header
    with pytest.raises(Exception, match="header CRC"):
        esp32.read(bytes(bad))
    with pytest.raises(Exception, match="4096-byte pages"):
        esp32.read(bytes(data[:5000]))
