"""The Telink format: byte-identical with Telink's mfg_tool.py on its worked example (tests/fixtures/
telink-reference), decoded back, and its limits."""

from __future__ import annotations

import os

import pytest

from conftest import FIXTURES
from matter_factory_data import api, formats
from matter_factory_data.crypto import keys, spake2p
from matter_factory_data.errors import InvalidInput
from matter_factory_data.formats import nrfconnect, telink

REF = os.path.join(FIXTURES, "telink-reference")
ATT = os.path.join(FIXTURES, "matter-credentials", "test-attestation")
CD = open(os.path.join(FIXTURES, "matter-credentials", "test-cd", "Test-CD-FFF1-8000.der"), "rb").read()


def reference_device() -> api.Device:
    """The inputs of the fixture's command line, as the model holds them."""
    salt = bytes(range(32))
    device = api.Device(
        vendor_id=0xFFF1, vendor_name="TEST_VENDOR", product_id=0x8000, product_name="TEST_PRODUCT", hw_ver=1,
        hw_ver_str="1.0", date="2022-01-01", rd_uid=bytes.fromhex("91a9c12a7c80700a31ddcfa7fce63e44"),
        sn="123456789abcdef", enable_key=bytes.fromhex("00112233445566778899AABBCCDDEEFF"),
        product_label="TEST_LABEL", product_url="https://example.com", part_number="TEST_PART",
        discriminator=0xF00, spake2_it=1000, spake2_salt=salt,
        spake2_verifier=spake2p.generate_verifier(20202021, salt, 1000), passcode=20202021,
        dac_cert=keys.load_certificate_der(os.path.join(ATT, "Chip-Test-DAC-FFF1-8000-0000-Cert.pem"), "dac"),
        dac_key=keys.load_dac_scalar(os.path.join(ATT, "Chip-Test-DAC-FFF1-8000-0000-Key.pem"), "key").to_bytes(32, "big"),
        pai_cert=keys.load_certificate_der(os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.pem"), "pai"))
    device.hex_text.update(rd_uid="91a9c12a7c80700a31ddcfa7fce63e44", enable_key="00112233445566778899AABBCCDDEEFF")
    device.validate()
    return device


def test_bin_and_hex_are_byte_identical_with_mfg_tool():
    image = api.encode("telink", reference_device(), cd=CD, size=0x1000)
    assert image == open(os.path.join(REF, "factory_data.bin"), "rb").read()
    assert nrfconnect.to_intel_hex(image, 0xFF000) == open(os.path.join(REF, "factory_data.hex"), "rb").read()


def test_decoded_back_with_the_cd_and_read_by_the_nrf_reader_too():
    image = open(os.path.join(REF, "factory_data.bin"), "rb").read()
    device = telink.decode(image)
    assert device == reference_device()
    assert telink.read(image)["cert_dclrn"] == CD
    assert formats.detect(image) == "telink"
    nrf = nrfconnect.decode(image)  # the nRF parser reads a Telink image (it skips cert_dclrn)
    assert (nrf.vendor_id, nrf.discriminator, nrf.dac_cert) == (0xFFF1, 0xF00, device.dac_cert)


def test_limits_are_clean_errors_naming_the_sizes():
    device = reference_device()
    with pytest.raises(InvalidInput, match=r"factory data needs 1796 bytes .* but the partition holds 1024"):
        api.encode("telink", device, cd=CD, size=0x400)
    assert len(api.encode("telink", device, cd=CD, size=telink.PARTITION_SIZES["tl3218x"])) == 1796
    device.hex_text.clear()  # a generated rd_uid is stored raw, as mfg_tool.py stores one it generates
    assert telink.read(api.encode("telink", device))["rd_uid"] == device.rd_uid
    assert telink.decode(api.encode("telink", device)).rd_uid == device.rd_uid
    device.rd_uid = bytes(range(33))
    with pytest.raises(InvalidInput, match="rd_uid: is 33 bytes stored raw; the Telink device needs 16..32"):
        api.encode("telink", device)
    device.rd_uid = bytes(16)
    device.hex_text["rd_uid"] = "00" * 17
    with pytest.raises(InvalidInput, match="rd_uid: is 34 bytes stored as hex text; the Telink device needs 16..32"):
        api.encode("telink", device)


def test_what_telink_does_not_store_and_how_it_stores_user_data():
    device = reference_device()
    device.product_finish, device.primary_color, device.user = 2, 5, {"room": "kitchen", "n": 1}
    values = telink.read(api.encode("telink", device))
    assert "product_finish" not in values and "primary_color" not in values
    assert values["user"] == b'{"room":"kitchen","n":1}' and list(values)[-1] == "user"
    assert telink.decode(api.encode("telink", device)).user == {"room": "kitchen", "n": 1}


@pytest.mark.parametrize("name", ["factory_data.bin", "factory_data.hex"])
def test_inspect_reads_telink_images_and_says_which_layout(name):
    from conftest import run_script

    r = run_script("inspect", os.path.join(REF, name))
    assert r.code == 0 and ": telink factory data (" in r.stdout and "result: OK" in r.stdout
    assert "layout: Telink" in r.stdout and "an nRF Connect parser reads this image too" in r.stdout
    # read as nRF Connect data on request: there the ASCII enable_key breaks the nRF rule
    r = run_script("inspect", "--format", "nrfconnect", os.path.join(REF, name))
    assert "enable_key: must be exactly 16 bytes, got 32" in r.stdout


# ---------------------------------------------------------------- the telink drop-in (mfg_tool.py's options)

import base64  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from conftest import SCRIPTS, run_script  # noqa: E402
from matter_factory_data.codes import onboarding  # noqa: E402
from matter_factory_data.crypto import attestation  # noqa: E402

CD_PATH = os.path.join(FIXTURES, "matter-credentials", "test-cd", "Test-CD-FFF1-8000.der")
PAI_ARGS = ["--pai", "-c", os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.pem"),
            "-k", os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Key.pem")]
BASE = ["-v", "0xFFF1", "-p", "0x8000", "-cd", CD_PATH, "--offset", "0xFF000", "--size", "0x1000"]
# the fixture's command line (tests/fixtures/telink-reference/README.md), the stand-in's salt given as --salt
REFERENCE_ARGS = [
    "--output", "out", "--spake2-path", "spake2p", "--chip-tool-path", "chip-tool",
    "-v", "0xFFF1", "-p", "0x8000", "--vendor-name", "TEST_VENDOR", "--product-name", "TEST_PRODUCT",
    "--hw-ver", "1", "--hw-ver-str", "1.0", "--mfg-date", "2022-01-01", "--serial-num", "0123456789ABCDEF",
    "--enable-rotating-device-id", "--rd-id-uid", "91a9c12a7c80700a31ddcfa7fce63e44",
    "--enable-key", "00112233445566778899AABBCCDDEEFF",
    "--product-label", "TEST_LABEL", "--product-url", "https://example.com", "--part_number", "TEST_PART",
    "--passcode", "20202021", "--discriminator", "0xF00", "--spake2-it", "1000", *PAI_ARGS,
    "--dac-cert", os.path.join(ATT, "Chip-Test-DAC-FFF1-8000-0000-Cert.pem"),
    "--dac-key", os.path.join(ATT, "Chip-Test-DAC-FFF1-8000-0000-Key.pem"),
    "-cd", CD_PATH, "--offset", "0xFF000", "--size", "0x1000",
    "--salt", base64.b64encode(bytes(range(32))).decode()]


def _tree(root) -> list[str]:
    return sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "**"), recursive=True)
                  if os.path.isfile(p))


def test_drop_in_writes_mfg_tools_bytes_and_tree(tmp_path):
    r = run_script("telink", *REFERENCE_ARGS, cwd=str(tmp_path))
    assert r.code == 0, r.stderr
    d = tmp_path / "out" / "fff1_8000" / "123456789abcdef"
    for name in ("factory_data.bin", "factory_data.hex", "onb_codes.csv"):
        assert (d / name).read_bytes() == open(os.path.join(REF, name), "rb").read(), name
    assert _tree(tmp_path / "out") == [
        "device_sn.csv", *(f"fff1_8000/123456789abcdef/{n}" for n in (
            "factory_data.bin", "factory_data.hex", "internal/DAC_cert.der", "internal/DAC_private_key.bin",
            "internal/DAC_public_key.bin", "internal/pai_cert.der", "onb_codes.csv", "pin_disc.csv", "qrcode.png",
            "summary.json"))]
    assert (tmp_path / "out" / "device_sn.csv").read_text() == "Serial Number,\n123456789abcdef\n"
    verifier = base64.b64encode(spake2p.generate_verifier(20202021, bytes(range(32)), 1000)).decode()
    salt = base64.b64encode(bytes(range(32))).decode()
    assert (d / "pin_disc.csv").read_text() == (f"Index,PIN Code,Iteration Count,Salt,Verifier,Discriminator\n"
                                                f"0,20202021,1000,{salt},{verifier},3840\n")
    summary = json.loads((d / "summary.json").read_text())
    assert list(summary) == ["serial_num", "vendor_id", "product_id", "hw_ver", "version", "discriminator", "spake2_it",
                             "passcode", "spake2_salt", "spake2_verifier", "qrcode", "manualcode", "cert_pem",
                             "cert_der", "key_pem", "dac_cert", "dac_priv_key", "dac_pub_key", "cert_dclrn"]
    assert (summary["vendor_id"], summary["discriminator"], summary["passcode"], summary["manualcode"]) == \
        ("0xfff1", "3840", "20202021", "34970112332")
    assert summary["dac_cert"] == str(d / "internal" / "DAC_cert.der")
    assert (d / "internal" / "DAC_private_key.bin").read_bytes() == reference_device().dac_key
    for name in ("factory_data.bin", "factory_data.hex", "summary.json", "internal/DAC_private_key.bin"):
        assert os.stat(d / name).st_mode & 0o777 == 0o600, name
    lines = [line for line in r.stderr.splitlines() if "] [   INFO] - " in line]
    assert [line.split(" - ", 1)[1] for line in lines] == [
        "Generating for 123456789abcdef", "Generated QR code: 'MT:Y.K9042C00KA0648G00'",
        "Generated manual code: '34970112332'", "Generating partition image: offset: 0xFF000 size: 0x1000"]
    # --in-tree: the same files straight into the output directory (as Telink's build uses it)
    r = run_script("telink", *REFERENCE_ARGS[2:], "--output", "tree", "--in-tree", cwd=str(tmp_path))
    assert r.code == 0, r.stderr
    assert (tmp_path / "tree" / "factory_data.hex").read_bytes() == (d / "factory_data.hex").read_bytes()
    assert (tmp_path / "tree" / "internal" / "DAC_cert.der").exists()


def test_drop_in_issues_dacs_for_many_devices(tmp_path):
    r = run_script("telink", *BASE, *PAI_ARGS, "-n", "40", "--serial-num", "00FE", "--output", "out",
                   "--enable-rotating-device-id", "--jobs", "2", "--mfg-date", "2024-05-01", cwd=str(tmp_path))
    assert r.code == 0, r.stderr
    serials = (tmp_path / "out" / "device_sn.csv").read_text().splitlines()
    assert serials == ["Serial Number,"] + [format(0xFE + i, "x") for i in range(40)]
    pai = attestation.load_cert(open(os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.der"), "rb").read(), "pai")
    seen = {"discriminator": set(), "passcode": set(), "spake2_salt": set(), "rd_uid": set(), "dac_cert": set()}
    for i, sn in enumerate(serials[1:]):
        d = tmp_path / "out" / "fff1_8000" / sn
        image = (d / "factory_data.bin").read_bytes()
        assert nrfconnect.to_intel_hex(image, 0xFF000) == (d / "factory_data.hex").read_bytes()
        device = telink.decode(image)
        assert device.sn == sn and device.date == "2024-05-01" and len(device.rd_uid) == 16
        assert "rd_uid" not in device.hex_text  # generated: 16 raw bytes, as mfg_tool.py stores them
        assert device.spake2_verifier == spake2p.generate_verifier(device.passcode, device.spake2_salt, 1000)
        dac = attestation.load_cert(device.dac_cert, "dac")
        assert not attestation.check_chain(dac, pai, None, int.from_bytes(device.dac_key, "big"), 0xFFF1, 0x8000).errors
        assert dac.subject.get("2.5.4.3") == [f"Telink DAC {i}"]
        codes = (d / "onb_codes.csv").read_text().splitlines()[1].split(",")
        parsed = onboarding.parse_qr(codes[0])
        assert (parsed.discriminator, parsed.passcode, parsed.rendezvous) == (device.discriminator, device.passcode, 2)
        assert telink.read(image)["cert_dclrn"] == CD
        for name in seen:
            seen[name].add(getattr(device, name))
    assert all(len(values) == 40 for values in seen.values()), {k: len(v) for k, v in seen.items()}


@pytest.fixture
def openssl_bin():
    path = shutil.which("openssl")
    if path is None:
        if os.environ.get("CI"):
            raise AssertionError("openssl is not installed (tests/setup.sh installs it)")
        pytest.skip("openssl not installed")
    return path


def test_drop_in_with_a_paa_issues_one_pai_per_run_and_without_a_ca_no_dac(tmp_path, openssl_bin):
    paa = os.path.join(ATT, "Chip-Test-PAA-FFF1-Cert.pem")
    r = run_script("telink", *BASE, "--paa", "-c", paa, "-k", os.path.join(ATT, "Chip-Test-PAA-FFF1-Key.pem"),
                   "-n", "3", "--output", "out", "--quiet", cwd=str(tmp_path))
    assert r.code == 0, r.stderr
    dirs = sorted(glob.glob(str(tmp_path / "out" / "fff1_8000" / "*")))
    pais = {open(os.path.join(d, "internal", "pai_cert.der"), "rb").read() for d in dirs}
    assert len(dirs) == 3 and len(pais) == 1
    for d in dirs:
        assert not os.path.exists(os.path.join(d, "internal", "pai_key.pem"))  # the PAI key is never written
        v = subprocess.run([openssl_bin, "verify", "-x509_strict", "-CAfile", paa, "-untrusted",
                            os.path.join(d, "internal", "pai_cert.pem"), os.path.join(d, "internal", "DAC_cert.pem")],
                           capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr
    # mfg_tool.py crashes without --paa/--pai; here the images simply hold no attestation data
    r = run_script("telink", *BASE, "--output", "plain", "--discriminator", "0", cwd=str(tmp_path))
    assert r.code == 0, r.stderr
    (d,) = glob.glob(str(tmp_path / "plain" / "fff1_8000" / "*"))
    values = telink.read(open(os.path.join(d, "factory_data.bin"), "rb").read())
    assert "dac_cert" not in values and values["discriminator"] == 0  # 0 is honoured (mfg_tool.py: random)
    assert len(values["sn"]) <= 32 and os.listdir(os.path.join(d, "internal")) == []


@pytest.mark.parametrize("args, code, message", [
    (["--serial-num", "SN-0001"], 2, "--serial-num: 'SN-0001' is not a hex number"),
    (["--serial-num", "f" * 32, "-n", "2"], 2, "the last device's serial number 1" + "0" * 32 + " is longer than 32"),
    (["--rd-id-uid", "abc", "--enable-rotating-device-id"], 2, "--rd-id-uid: 'abc' is not 16..32"),
    (["--enable-key", "00112233"], 2, "--enable-key: '00112233' is not 32 hex digits"),
    (["--mfg-date", "20220101"], 2, "--mfg-date: '20220101' is not a date in the form YYYY-MM-DD"),
    (["--passcode", "11111111"], 2, "--passcode: 11111111 is not allowed"),
    (["--passcode", "100000000"], 2, "--passcode: 100000000 is out of range"),
    (["--spake2-it", "500"], 2, "--spake2-it: 500 is out of range (allowed 1000..100000)"),
    (["--discriminator", "4096"], 2, "--discriminator"),
    (["--size", "0x400", *PAI_ARGS], 2, "factory data needs"),
    (["-n", "2", "--in-tree"], 2, "Option --in-tree can not be use together with --count > 1"),
    (["--dac-key", os.path.join(ATT, "Chip-Test-DAC-FFF1-8000-0000-Key.pem")], 2,
     "dac_key and dac_cert should be both present or none"),
    (["--pai", "-c", os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.pem")], 2,
     "CA key and certificate are required to generate DAC key and certificate"),
    (["--vendor-name", "x" * 33], 2, "--vendor-name: must be 1..32 bytes, got 33"),
    (["--salt", base64.b64encode(bytes(8)).decode()], 2, "--salt: must be 16..32 bytes, got 8"),
])
def test_drop_in_bad_inputs_are_one_line_and_write_nothing(tmp_path, args, code, message):
    r = run_script("telink", *BASE, "--output", "out", *args, cwd=str(tmp_path))
    assert r.code == code, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "] [  ERROR] - " in r.stderr
    assert os.listdir(tmp_path) == []


def test_drop_in_refuses_a_cd_signing_certificate_as_the_cd(tmp_path):
    """Telink's default build stores the CD signing certificate as cert_dclrn: commissioners reject that."""
    bad = list(BASE)
    bad[bad.index(CD_PATH)] = os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.der")
    r = run_script("telink", *bad, "--output", "out", cwd=str(tmp_path))
    assert r.code == 2 and "-cd: is not a Certification Declaration" in r.stderr and os.listdir(tmp_path) == []


def test_drop_in_existing_output_and_overwrite(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    r = run_script("telink", *BASE, "--output", "out", cwd=str(tmp_path))
    assert r.code == 1 and "Output directory exists! Please use different or remove existing." in r.stderr
    assert os.listdir(tmp_path / "out") == ["keep.txt"]
    # a refused --overwrite run leaves the old tree alone; an accepted one replaces it (as mfg_tool.py)
    r = run_script("telink", *BASE, "--output", "out", "--overwrite", "--passcode", "1", "--spake2-it", "5",
                   cwd=str(tmp_path))
    assert r.code == 2 and os.listdir(tmp_path / "out") == ["keep.txt"]
    r = run_script("telink", *BASE, "--output", "out", "--overwrite", cwd=str(tmp_path))
    assert r.code == 0 and sorted(os.listdir(tmp_path / "out")) == ["device_sn.csv", "fff1_8000"]


def test_drop_in_killed_and_run_again_finishes_the_run(tmp_path):
    args = ["telink", *BASE, *PAI_ARGS, "-n", "300", "--jobs", "2", "--output", "out", "--quiet",
            "--serial-num", "1000"]
    env = dict(os.environ, PYTHONPATH=SCRIPTS)
    proc = subprocess.Popen([sys.executable, "-m", "matter_factory_data", *args], cwd=tmp_path, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = tmp_path / "out" / "fff1_8000"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if root.is_dir() and len(os.listdir(root)) >= 40:
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    made = os.listdir(root)
    assert 0 < len(made) < 300, "the run finished before it could be killed"
    for sn in made:  # whatever was renamed into place is complete
        assert len(os.listdir(root / sn)) == 7
    before = {sn: (root / sn / "factory_data.bin").read_bytes() for sn in made}
    r = run_script("telink", *args[1:], cwd=str(tmp_path))
    assert r.code == 0, r.stderr
    serials = (tmp_path / "out" / "device_sn.csv").read_text().splitlines()[1:]
    assert serials == [format(0x1000 + i, "x") for i in range(300)] and sorted(os.listdir(root)) == sorted(serials)
    assert all((root / sn / "factory_data.bin").read_bytes() == data for sn, data in before.items())
    discriminators = {telink.read((root / sn / "factory_data.bin").read_bytes())["discriminator"] for sn in serials}
    assert len(discriminators) == 300
    assert sorted(os.listdir(tmp_path / "out")) == ["device_sn.csv", "fff1_8000"]  # no state, journal or staging
    # a finished run is not resumed: the directory now exists
    assert run_script("telink", *args[1:], cwd=str(tmp_path)).code == 1
    shutil.rmtree(tmp_path / "out")
