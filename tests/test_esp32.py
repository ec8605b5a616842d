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
from cryptography import x509

from matter_factory_data.crypto import attestation, dac_template, keys
from matter_factory_data.formats import esp32
from matter_factory_data.inspection import inspect_esp32
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
        from matter_factory_data.crypto import spake2p

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


# ---------------------------------------------------------------- the esp32 drop-in command

FIXED = ["-v", "0xFFF1", "-p", "0x8000", "--vendor-name", "Acme", "--product-name", "Lamp", "--hw-ver", "1",
         "--hw-ver-str", "1.0", "--mfg-date", "2024-05-01", "--serial-num", "SN0001", "--passcode", "20202021",
         "--discriminator", "3840", "--salt", "U1BBS0UyUCBLZXkgU2FsdA==", "--verifier", V1000,
         "--iteration-count", "1000", "--enable-rotating-device-id", "--rd-id-uid", "00112233445566778899aabbccddeeff",
         "--dac-cert", os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Cert.pem"),
         "--dac-key", os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Key.pem"),
         "--pai", "-c", os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.pem"), "-cd", "cd.der",
         "--product-finish", "satin", "--product-color", "red", "--part-number", "P1", "--product-label", "L",
         "--product-url", "http://x", "-cf", "1", "-dm", "6"]


def _device_dir(root):
    (d,) = [p for p in glob.glob(os.path.join(root, "out", "fff1_8000", "*")) if os.path.isdir(p)
            and not p.endswith("staging")]
    return d


def _strip_uuid(text: str, d: str) -> str:
    u = os.path.basename(d)
    return text.replace(os.path.dirname(d), "<root>").replace(u, "<uuid>")


def test_drop_in_matches_esp_matter_mfg_tool(tmp_path, cd_der):
    ref, ours = tmp_path / "ref", tmp_path / "ours"
    for d in (ref, ours):
        d.mkdir()
        shutil.copy(cd_der, d / "cd.der")
    (schema := tmp_path / "extra.csv").write_text("chip-factory,namespace,\nmy-num,data,u32\nmy-str,data,string\n"
                                                  "app,namespace,\nfw-flag,data,u8\n")
    (values := tmp_path / "extra_values.csv").write_text("my-num,my-str,fw-flag\n7,hello,1\n")
    extra = ["--csv", str(schema), "--mcsv", str(values), "--locales", "en-US", "de-DE",
             "--fixed-labels", "1/room/bedroom", "2/orientation/up", "--calendar-types", "Gregorian", "Hebrew"]
    run_esp(str(ref), *FIXED, *extra)
    r = subprocess.run([sys_executable(), "-m", "matter_factory_data", "esp32", *FIXED, *extra, "--outdir", "out"],
                       cwd=ours, capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    rd, od = _device_dir(ref), _device_dir(ours)
    ru, ou = os.path.basename(rd), os.path.basename(od)
    assert open(os.path.join(od, f"{ou}-partition.bin"), "rb").read() == open(os.path.join(rd, f"{ru}-partition.bin"), "rb").read()
    assert open(os.path.join(od, f"{ou}-onb_codes.csv")).read() == open(os.path.join(rd, f"{ru}-onb_codes.csv")).read()
    from PIL import Image  # the label image: same size, same pixels (the PNG encoders differ)

    ours_png, ref_png = (Image.open(os.path.join(x, f"{u}-qrcode.png")) for x, u in ((od, ou), (rd, ru)))
    assert ours_png.size == ref_png.size == (198, 198)
    assert ours_png.convert("L").tobytes() == ref_png.convert("L").tobytes()
    for name in ("DAC_cert.der", "DAC_private_key.bin", "DAC_public_key.bin", "PAI_cert.der", "DAC_key.der"):
        assert open(os.path.join(od, "internal", name), "rb").read() == open(os.path.join(rd, "internal", name), "rb").read(), name
    assert _strip_uuid(open(os.path.join(od, "internal", "partition.csv"), newline="").read(), od) == \
        _strip_uuid(open(os.path.join(rd, "internal", "partition.csv"), newline="").read(), rd)
    (rs,) = glob.glob(str(ref / "out" / "fff1_8000" / "summary-*.csv"))
    (os_,) = glob.glob(str(ours / "out" / "fff1_8000" / "summary-*.csv"))
    assert _strip_uuid(open(os_, newline="").read(), od) == _strip_uuid(open(rs, newline="").read(), rd)
    for name in ("config.csv", "master.csv", "pin_disc.csv"):
        a = open(ours / "out" / "fff1_8000" / "staging" / name, newline="").read()
        b = open(ref / "out" / "fff1_8000" / "staging" / name, newline="").read()
        assert _strip_uuid(a, od) == _strip_uuid(b, rd), name


def sys_executable():
    import sys

    return sys.executable


def _env():
    from conftest import SCRIPTS

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = SCRIPTS
    return env


def _ours(tmp_path, *args, check=True):
    r = subprocess.run([sys_executable(), "-m", "matter_factory_data", "esp32", *args, "--outdir", "out"],
                       cwd=tmp_path, capture_output=True, text=True, env=_env())
    if check:
        assert r.returncode == 0, r.stderr
    return r


PAI = ["--pai", "-k", os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Key.pem"), "-c",
       os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.pem")]


def test_fixed_reference_defects(tmp_path):
    # passcode range enforced (the reference accepts 123456789)
    r = _ours(tmp_path, "-v", "0xFFF1", "-p", "0x8000", *PAI, "--passcode", "123456789", check=False)
    assert r.returncode == 2 and "[  ERROR] - --passcode" in r.stderr and "Traceback" not in r.stderr
    # --discriminator 0 is honoured (the reference replaces it with a random value)
    _ours(tmp_path, "-v", "0xFFF1", "-p", "0x8000", *PAI, "--discriminator", "0", "-vf", "2026-01-01")
    d = _device_dir(tmp_path)
    cf = esp32.read(open(glob.glob(os.path.join(d, "*-partition.bin"))[0], "rb").read())["chip-factory"]
    assert cf["discriminator"] == 0
    row = next(csv.DictReader(open(glob.glob(os.path.join(d, "*-onb_codes.csv"))[0])))
    assert row["discriminator"] == "0"


def test_no_colliding_discriminators_and_encrypted_keys(tmp_path):
    from cryptography.hazmat.primitives import serialization as s

    key = s.load_pem_private_key(open(os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Key.pem"), "rb").read(), None)
    (tmp_path / "pai_enc.pem").write_bytes(key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8,
                                                             s.BestAvailableEncryption(b"pw")))
    _ours(tmp_path, "-v", "0xFFF1", "-p", "0x8000", "--pai", "-k", str(tmp_path / "pai_enc.pem"), "--pwd", "pw",
          "-c", os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.pem"), "-n", "300", "--iteration-count", "1000")
    (summary,) = glob.glob(str(tmp_path / "out" / "fff1_8000" / "summary-*.csv"))
    rows = list(csv.DictReader(open(summary, newline="")))
    assert len(rows) == 300
    assert len({r["discriminator"] for r in rows}) == 300 and len({r["pincode"] for r in rows}) == 300
    assert not [p for p in glob.glob(str(tmp_path / "out" / "**" / "*"), recursive=True) if "pai_key" in p.lower()]


def test_encryption_with_a_supplied_key(tmp_path):
    key = bytes(range(64))
    (tmp_path / "key.hex").write_text(key.hex())
    _ours(tmp_path, "-v", "0xFFF1", "-p", "0x8000", *PAI, "-e", "--nvs-key", "key.hex", "--iteration-count", "1000")
    d = _device_dir(tmp_path)
    (part_path,) = [p for p in glob.glob(os.path.join(d, "*-partition.bin")) if not p.endswith("keys-partition.bin")]
    part = open(part_path, "rb").read()
    keys_part = open(glob.glob(os.path.join(d, "*-keys-partition.bin"))[0], "rb").read()
    assert keys_part[:64] == key
    cf = esp32.read(esp32.decrypt_entries(part, keys_part))["chip-factory"]
    assert cf["vendor-id"] == 0xFFF1 and len(cf["dac-key"]) == 32
    assert run_script("inspect", part_path, "--keys", glob.glob(os.path.join(d, "*-keys-partition.bin"))[0]).code == 0


def test_paa_mode_generates_a_pai_and_keeps_no_pai_key(tmp_path):
    _ours(tmp_path, "-v", "0xFFF1", "-p", "0x8000", "--paa", "-k", os.path.join(TEST, "Chip-Test-PAA-FFF1-Key.pem"),
          "-c", os.path.join(TEST, "Chip-Test-PAA-FFF1-Cert.pem"), "-n", "2", "--iteration-count", "1000",
          "-cn", "Acme")
    files = glob.glob(str(tmp_path / "out" / "**" / "*"), recursive=True)
    assert not [f for f in files if "pai_key" in os.path.basename(f).lower()]
    staging = tmp_path / "out" / "fff1_8000" / "staging"
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = x509.load_pem_x509_certificate((staging / "pai_cert.pem").read_bytes())
    assert pem.public_bytes(Encoding.DER) == (staging / "pai_cert.der").read_bytes()
    pai = attestation.load_cert(open(tmp_path / "out" / "fff1_8000" / "staging" / "pai_cert.der", "rb").read(), "pai")
    assert pai.subject.get("2.5.4.3") == ["Acme PAI 00"] and attestation.matter_ids(pai) == (0xFFF1, 0x8000)
    paa = attestation.load_cert(open(os.path.join(TEST, "Chip-Test-PAA-FFF1-Cert.der"), "rb").read(), "paa")
    for d in [p for p in glob.glob(str(tmp_path / "out" / "fff1_8000" / "*")) if not p.endswith(("staging", ".csv"))]:
        data = [p for p in glob.glob(os.path.join(d, "*-partition.bin"))][0]
        ins = inspect_esp32(open(data, "rb").read(), data)
        assert ins.ok, ins.errors
        dac = attestation.load_cert(open(os.path.join(d, "internal", "DAC_cert.der"), "rb").read(), "dac")
        assert attestation.check_chain(dac, pai, paa).errors == []


# ---------------------------------------------------------------- esp_secure_cert


SECURE = ["--dac-in-secure-cert", "--commissionable-data-in-secure-cert", "--rd-id-uid-in-secure-cert"]


def _secure_bin(d):
    (p,) = glob.glob(os.path.join(d, "*_esp_secure_cert.bin"))
    return open(p, "rb").read()


@pytest.mark.parametrize("flags", [SECURE, ["--dac-in-secure-cert"],
                                   ["--dac-in-secure-cert", "-ds", "--efuse-key-id", "2", "--target", "esp32h2"]])
def test_secure_cert_matches_esp_matter_mfg_tool(tmp_path, cd_der, flags):
    from matter_factory_data.formats import esp_secure_cert as sc

    ref, ours = tmp_path / "ref", tmp_path / "ours"
    for d in (ref, ours):
        d.mkdir()
        shutil.copy(cd_der, d / "cd.der")
    run_esp(str(ref), *FIXED, *flags)
    _ours(ours, *FIXED, *flags)
    rd, od = _device_dir(ref), _device_dir(ours)
    ref_bin, our_bin = _secure_bin(rd), _secure_bin(od)
    ref_records, our_records = sc.read(ref_bin), sc.read(our_bin)
    # every record but the two random ones (201/128, 201/129) is byte-identical
    assert [r for r in our_records if r[1] < 128] == [r for r in ref_records if r[1] < 128]
    assert [(t, s, len(d)) for t, s, _, d in our_records] == [(t, s, len(d)) for t, s, _, d in ref_records]
    # and with the reference's random values the whole file is
    values = sc.named_values(ref_records)
    dac = open(os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Cert.der"), "rb").read()
    pai = open(os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.der"), "rb").read()
    key = open(os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Key.der"), "rb").read()
    commissionable = None
    if "--commissionable-data-in-secure-cert" in flags:
        assert values["discriminator"] == 3840 and values["iteration-count"] == 1000
        assert values["verifier"] == base64.b64decode(V1000) and values["rd-id-uid"].hex() == FIXED[FIXED.index("--rd-id-uid") + 1]
        commissionable = dict(discriminator=3840, verifier=base64.b64decode(V1000),
                              salt=base64.b64decode("U1BBS0UyUCBLZXkgU2FsdA=="), iteration_count=1000,
                              rd_uid=values["rd-id-uid"], random1=values["random1"], random2=values["random2"])
    efuse = 2 if "-ds" in flags else None
    assert sc.partition(dac, pai, key, efuse_key_id=efuse, commissionable=commissionable) == ref_bin
    r = run_script("inspect", glob.glob(os.path.join(rd, "*_esp_secure_cert.bin"))[0])  # we read theirs
    assert r.code == 0 and "result: OK" in r.stdout, r.stdout
    # the NVS partition leaves out what moved, byte-identical with the reference's
    assert open(glob.glob(os.path.join(od, "*-partition.bin"))[0], "rb").read() == \
        open(glob.glob(os.path.join(rd, "*-partition.bin"))[0], "rb").read()
    cf = esp32.read(open(glob.glob(os.path.join(od, "*-partition.bin"))[0], "rb").read())["chip-factory"]
    assert "dac-cert" not in cf and "pai-cert" not in cf
    assert ("discriminator" in cf) == ("--commissionable-data-in-secure-cert" not in flags)
    (rs,) = glob.glob(str(ref / "out" / "fff1_8000" / "summary-*.csv"))
    (os_,) = glob.glob(str(ours / "out" / "fff1_8000" / "summary-*.csv"))
    assert _strip_uuid(open(os_, newline="").read(), od) == _strip_uuid(open(rs, newline="").read(), rd)
    for name in ("config.csv", "master.csv"):
        a = open(ours / "out" / "fff1_8000" / "staging" / name, newline="").read()
        b = open(ref / "out" / "fff1_8000" / "staging" / name, newline="").read()
        assert _strip_uuid(a, od) == _strip_uuid(b, rd), name
    assert not (ours / "esp_secure_cert_data").exists()


def test_secure_cert_batch_values_match_the_summary(tmp_path):
    from matter_factory_data.crypto import spake2p
    from matter_factory_data.crypto.der import ec_private_scalar
    from matter_factory_data.formats import esp_secure_cert as sc

    _ours(tmp_path, "-v", "0xFFF1", "-p", "0x8000", *PAI, "-n", "3", "--iteration-count", "1000", *SECURE)
    root = tmp_path / "out" / "fff1_8000"
    (summary,) = glob.glob(str(root / "summary-*.csv"))
    with open(summary, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        by_qr = {row[header.index("qrcode")]: row for row in reader}
    assert header[-4:] == ["discriminator", "iteration-count", "salt", "rd-id-uid"] and len(by_qr) == 3
    pai_der = open(os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.der"), "rb").read()
    pai = attestation.load_cert(pai_der, "pai")
    devices = [p for p in glob.glob(str(root / "*")) if os.path.isdir(p) and not p.endswith("staging")]
    assert len(devices) == 3
    for dev in devices:
        u = os.path.basename(dev)
        codes = next(csv.DictReader(open(os.path.join(dev, f"{u}-onb_codes.csv"), newline="")))
        row = by_qr[codes["qrcode"]]
        v = sc.named_values(sc.read(_secure_bin(dev)))
        assert v["discriminator"] == int(row[-4]) == int(codes["discriminator"])
        assert v["iteration-count"] == 1000 == int(row[-3])
        assert base64.b64encode(v["salt"]).decode() == row[-2] and v["rd-id-uid"].hex() == row[-1]
        assert spake2p.verifier_matches(v["verifier"], int(codes["passcode"]), v["salt"], 1000)
        dac = attestation.load_cert(v["dac-cert"], "dac")
        assert attestation.check_chain(dac, pai, None, ec_private_scalar(v["dac-key"], "key"), 0xFFF1, 0x8000).errors == []
        assert v["pai-cert"] == pai_der and dac.subject.get("2.5.4.3") == [u]
        cf = esp32.read(open(os.path.join(dev, f"{u}-partition.bin"), "rb").read())["chip-factory"]
        assert not {"discriminator", "salt", "verifier", "rd-id-uid", "dac-key", "dac-cert"} & set(cf)


ALL_THREE = ("If --commissionable-data-in-secure-cert or --rd-id-uid-in-secure-cert is provided, then "
             "--dac-in-secure-cert, --commissionable-data-in-secure-cert, and --rd-id-uid-in-secure-cert are mandatory")


@pytest.mark.parametrize("args,message", [
    (["--commissionable-data-in-secure-cert"], ALL_THREE),
    (["--dac-in-secure-cert", "--rd-id-uid-in-secure-cert"], ALL_THREE),
    (["--dac-in-secure-cert", "-ds", "--target", "esp32h2"],
     "--efuse-key-id <value> is required when -ds or --ds-peripheral option is used"),
    (["--dac-in-secure-cert", "-ds", "--efuse-key-id", "1"], "--target: 'esp32' has no ECDSA DS peripheral"),
    (["--dac-in-secure-cert", "-ds", "--efuse-key-id", "1", "--target", "esp32h2", "--port", "/dev/ttyUSB0"],
     "ERROR: esp-secure-cert-tool exited with error: this tool does not burn eFuses"),
    (["--port", "/dev/ttyUSB0", "-n", "3"], "Port not specified or number of partitions count is greater than 1"),
])
def test_secure_cert_option_rules(tmp_path, args, message):
    """Refused in the reference's wording, one line, exit status 2 (invalid input), nothing written."""
    r = _ours(tmp_path, "-v", "0xFFF1", "-p", "0x8000", *PAI, *args, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and f"] [  ERROR] - {message}" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists() or not glob.glob(str(tmp_path / "out" / "*" / "*-*-*"))


def test_ds_without_secure_cert_and_port_for_one_device_are_accepted_as_upstream(tmp_path):
    """-ds without --dac-in-secure-cert leaves the DAC key in NVS (no esp_secure_cert), and --port with one
    device is not used: the reference generates both, and prints where each device went."""
    r = _ours(tmp_path, "-v", "0xFFF1", "-p", "0x8000", *PAI, "-ds", "--efuse-key-id", "1", "--target", "esp32h2",
              "--port", "/dev/ttyUSB0")
    dirs = [os.path.join(tmp_path, line.split("Generated output files at: ")[1]) for line in r.stderr.splitlines()
            if "] [   INFO] - Generated output files at: " in line]
    assert len(dirs) == 1 and os.path.isdir(dirs[0]) and not glob.glob(os.path.join(dirs[0], "*_esp_secure_cert.bin"))
    assert "dac-key" in esp32.read(open(glob.glob(os.path.join(dirs[0], "*-partition.bin"))[0], "rb").read())[
        "chip-factory"]


def test_secure_cert_reader_rejects_corruption():
    from matter_factory_data.errors import InvalidInput
    from matter_factory_data.formats import esp_secure_cert as sc

    data = bytearray(sc.partition(b"\x30\x03abc", b"\x30\x01x", b"\x30\x02kk"))
    assert [(t, s, d) for t, s, _, d in sc.read(bytes(data))] == [(1, 0, b"\x30\x03abc"), (0, 0, b"\x30\x01x"),
                                                                    (2, 0, b"\x30\x02kk")]
    assert len(data) == 3 * 32 and sc.read(bytes(data) + b"\xff" * 64) == sc.read(bytes(data))
    data[14] ^= 1
    with pytest.raises(InvalidInput, match="CRC mismatch"):
        sc.read(bytes(data))
    whole = sc.partition(b"a", b"b", b"c")
    with pytest.raises(InvalidInput, match="runs past the end"):
        sc.read(whole[:50])
    with pytest.raises(InvalidInput, match="truncated"):
        sc.read(whole[:40])
    with pytest.raises(InvalidInput, match="no TLV magic"):
        sc.read(b"\x00" * 32)


# ---------------------------------------------------------------- parallel, resumable runs of the drop-in


def _run_state(root):
    devices = sorted(os.path.basename(p) for p in glob.glob(str(root / "*")) if os.path.isdir(p)
                     and not p.endswith("staging"))
    summaries = glob.glob(str(root / "summary-*.csv"))
    return devices, summaries


@pytest.mark.parametrize("kill_at", [0, 40, 160])
def test_drop_in_killed_and_run_again_finishes_the_run(tmp_path, kill_at):
    """SIGKILL once the run has started (state written) and after about 40 and 160 devices of 300."""
    import signal
    import sys
    import time

    args = ["-v", "0xFFF1", "-p", "0x8000", *PAI, "-n", "300", "--iteration-count", "1000", "--jobs", "2",
            "--enable-rotating-device-id", "--outdir", "out"]
    proc = subprocess.Popen([sys.executable, "-m", "matter_factory_data", "esp32", *args], cwd=tmp_path, env=_env(),
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = tmp_path / "out" / "fff1_8000"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if (root / ".matter-factory-data-esp32.json").exists() and len(_run_state(root)[0]) >= kill_at:
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(_run_state(root)[0]) < 300, "the run finished before it could be killed"
    root = tmp_path / "out" / "fff1_8000"
    for d in _run_state(root)[0]:  # whatever was renamed into place is complete
        assert len(os.listdir(root / d)) == 4 and len(os.listdir(root / d / "internal")) == 8
    r = subprocess.run([sys.executable, "-m", "matter_factory_data", "esp32", *args], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    devices, summaries = _run_state(root)
    assert len(devices) == 300 and len(summaries) == 1
    rows = list(csv.DictReader(open(summaries[0], newline="")))
    assert len(rows) == 300
    # each summary row is one device directory, and nothing repeats
    by_qr = {r["qrcode"]: r for r in rows}
    for d in devices:
        codes = next(csv.DictReader(open(root / d / f"{d}-onb_codes.csv", newline="")))
        row = by_qr.pop(codes["qrcode"])
        assert row["dac-cert"].endswith(os.path.join(d, "internal", "DAC_cert.der"))
        cf = esp32.read((root / d / f"{d}-partition.bin").read_bytes())["chip-factory"]
        assert cf["serial-num"] == row["serial-num"] and cf["discriminator"] == int(row["discriminator"])
    assert by_qr == {}
    for column in ("discriminator", "pincode", "serial-num", "salt", "rd-id-uid"):
        assert len({r[column] for r in rows}) == 300, column
    dac_serials = {attestation.load_cert((root / d / "internal" / "DAC_cert.der").read_bytes(), "d").serial
                   for d in devices}
    assert len(dac_serials) == 300
    assert not [p for p in os.listdir(root) if p.startswith(".")]  # no state, journal or staging left


def test_drop_in_second_run_adds_a_run_and_other_options_are_refused_while_one_is_unfinished(tmp_path):
    base = ["-v", "0xFFF1", "-p", "0x8000", *PAI, "--iteration-count", "1000"]
    _ours(tmp_path, *base, "-n", "2")
    _ours(tmp_path, *base, "-n", "3")  # as esp-matter-mfg-tool: a finished run is followed by a new one
    devices, _ = _run_state(tmp_path / "out" / "fff1_8000")
    assert len(devices) == 5
    # an unfinished run (its state left behind) is only finished by the same command
    root = tmp_path / "out" / "fff1_8000"
    state = {"fingerprint": "0" * 64, "key": "00" * 32, "started": "2026-01-01T00:00:00",
             "started_utc": "2026-01-01T00:00:00+00:00"}
    import json

    (root / ".matter-factory-data-esp32.json").write_text(json.dumps(state))
    r = _ours(tmp_path, *base, "-n", "2", check=False)
    assert r.returncode == 1 and "unfinished run with other options" in r.stderr and "Traceback" not in r.stderr
    assert len(_run_state(root)[0]) == 5


def test_inspect_reads_secure_cert_files(tmp_path):
    from matter_factory_data.formats import esp_secure_cert as sc

    _ours(tmp_path, "-v", "0xFFF1", "-p", "0x8000", *PAI, "--iteration-count", "1000", *SECURE)
    dev = _device_dir(tmp_path)
    path = glob.glob(os.path.join(dev, "*_esp_secure_cert.bin"))[0]
    r = run_script("inspect", path)
    assert r.code == 0, r.stdout + r.stderr
    assert "result: OK" in r.stdout and "201/1 (97 bytes)" in r.stdout
    # a DAC key that is not the DAC's is caught
    data = open(path, "rb").read()
    records = sc.named_values(sc.read(data))
    other = dac_template.key_der_from_scalar(12345)
    (tmp_path / "bad.bin").write_bytes(sc.partition(records["dac-cert"], records["pai-cert"], other))
    r = run_script("inspect", str(tmp_path / "bad.bin"))
    assert r.code != 0 and "result: OK" not in r.stdout


def test_pem_writer_matches_cryptography():
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec

    from matter_factory_data.production.mfg_tool import _pem

    der = open(os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Cert.der"), "rb").read()
    assert _pem("CERTIFICATE", der) == x509.load_der_x509_certificate(der).public_bytes(s.Encoding.PEM)
    key = ec.derive_private_key(987654321, ec.SECP256R1())
    assert _pem("PRIVATE KEY", dac_template.pkcs8_der_from_scalar(987654321)) == key.private_bytes(
        s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())


def test_valid_from_takes_a_date_and_mcsv_discriminator_reaches_the_codes(tmp_path):
    """Two reference defects: -vf 2026-01-01 fails there ("does not match format"), and a discriminator
    overridden through --csv/--mcsv goes into NVS while the QR and manual codes keep the random one."""
    from matter_factory_data.codes import onboarding

    (tmp_path / "schema.csv").write_text("chip-factory,namespace,\ndiscriminator,data,u32\n")
    (tmp_path / "values.csv").write_text("discriminator\n1234\n777\n")
    _ours(tmp_path, "-v", "0xFFF1", "-p", "0x8000", *PAI, "--iteration-count", "1000", "-vf", "2026-01-01",
          "--csv", "schema.csv", "--mcsv", "values.csv")
    root = tmp_path / "out" / "fff1_8000"
    seen = set()
    for dev in [p for p in glob.glob(str(root / "*")) if os.path.isdir(p) and not p.endswith("staging")]:
        u = os.path.basename(dev)
        cf = esp32.read(open(os.path.join(dev, f"{u}-partition.bin"), "rb").read())["chip-factory"]
        codes = next(csv.DictReader(open(os.path.join(dev, f"{u}-onb_codes.csv"), newline="")))
        payload = onboarding.parse_qr(codes["qrcode"])
        assert cf["discriminator"] == int(codes["discriminator"]) == payload.discriminator
        seen.add(cf["discriminator"])
        dac = attestation.load_cert(open(os.path.join(dev, "internal", "DAC_cert.der"), "rb").read(), "dac")
        assert dac.not_before.isoformat() == "2026-01-01T00:00:00+00:00"
    assert seen == {1234, 777}


def test_report_csv_text_cells_cannot_run_as_spreadsheet_formulas(tmp_path):
    """Text that starts like a formula gets a leading apostrophe in the summary and cn_dacs CSVs: the vendor
    name in the summary, a supplied DAC's common name in cn_dacs."""
    from matter_factory_data.crypto import issuing, keys

    pai_key = keys.load_p256_key(os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Key.pem"), "pai key")
    pai = x509.load_pem_x509_certificate(open(os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.pem"), "rb").read())
    dac_key = issuing.generate_p256_key()
    dac = issuing.issue_certificate("dac", "=1+1", dac_key.public_key(), pai_key, pai, vid=0xFFF1, pid=0x8000,
                                    valid_from=pai.not_valid_before_utc)
    (tmp_path / "dac.der").write_bytes(issuing.der(dac))
    (tmp_path / "dac_key.der").write_bytes(issuing.key_der(dac_key))
    _ours(tmp_path, "-v", "0xFFF1", "-p", "0x8000", "--pai", "-c", os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.pem"),
          "--dac-cert", "dac.der", "--dac-key", "dac_key.der", "--vendor-name", "@SUM(1)")
    summary = next(csv.DictReader(open(glob.glob(str(tmp_path / "out" / "*" / "summary-*.csv"))[0], newline="")))
    assert summary["vendor-name"] == "'@SUM(1)"
    cn_row = next(csv.DictReader(open(glob.glob(str(tmp_path / "out" / "*" / "cn_dacs-*.csv"))[0], newline="")))
    assert cn_row["CN"] == "'=1+1"
