"""The README's first command: a complete, valid factory data set from built-in defaults."""

import os

from matter_factory_data.crypto import attestation, cd
from matter_factory_data.inspection import inspect_bytes
from conftest import run_script


def test_demo_makes_a_complete_valid_set(tmp_path):
    out = tmp_path / "demo"
    r = run_script("demo", "--out", str(out))
    assert r.code == 0, r.stderr
    assert "QRCode : MT:" in r.stdout and "Manualcode : " in r.stdout
    names = set(os.listdir(out))
    for n in ("factory_data.json", "factory_data.hex", "factory_data.bin", "factory_data.txt", "factory_data.png",
              "PAA_cert.der", "PAI_cert.der", "PAI_key.der", "DAC_cert.der", "DAC_key.der", "CD.der"):
        assert n in names
    for n in ("factory_data.json", "factory_data.hex", "factory_data.bin", "factory_data.txt", "factory_data.png",
              "PAA_key.der", "PAI_key.pem", "DAC_key.der"):
        assert (out / n).stat().st_mode & 0o777 == 0o600, n
    ins = inspect_bytes((out / "factory_data.hex").read_bytes(), "factory_data.hex")
    assert ins.ok, ins.errors
    fd = ins.model
    assert fd.vendor_id == 0xFFF1 and fd.product_id == 0x8000 and fd.passcode is not None
    # the chain PAA -> PAI -> DAC holds and the DAC in the partition is the one written out
    paa = attestation.load_cert((out / "PAA_cert.der").read_bytes(), "paa")
    pai = attestation.load_cert((out / "PAI_cert.der").read_bytes(), "pai")
    dac = attestation.load_cert((out / "DAC_cert.der").read_bytes(), "dac")
    assert fd.dac_cert == (out / "DAC_cert.der").read_bytes()
    report = attestation.check_chain(dac, pai, paa, None, 0xFFF1, 0x8000, fd.date)
    assert report.errors == [] and report.deviations == []
    # the CD names VID/PID and verifies with the written signer
    parsed = cd.parse((out / "CD.der").read_bytes())
    signer = attestation.load_cert((out / "CD_signing_cert.der").read_bytes(), "cd signer")
    cd.verify(parsed, signer)
    assert parsed.content.vendor_id == 0xFFF1 and parsed.content.product_ids == [0x8000]
    # the onboarding text carries the same passcode and discriminator
    from matter_factory_data.codes import onboarding

    qr = (out / "factory_data.txt").read_text().splitlines()[1].split(" : ")[1]
    p = onboarding.parse_qr(qr)
    assert (p.passcode, p.discriminator) == (fd.passcode, fd.discriminator)


def test_demo_refuses_to_overwrite(tmp_path):
    out = tmp_path / "demo"
    assert run_script("demo", "--out", str(out)).code == 0
    r = run_script("demo", "--out", str(out))
    assert r.code == 1 and "already exists" in r.stderr
    assert run_script("demo", "--out", str(out), "--overwrite").code == 0
