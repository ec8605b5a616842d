"""Independent verification with OpenSSL's command line (Debian ``openssl``): every chain we issue passes
``openssl verify -x509_strict``, every CD we sign passes ``openssl cms -verify``, ``openssl x509 -text`` shows
the extensions the Matter profile requires."""

import os
import random
import shutil
import subprocess

import pytest

from conftest import CREDS, run_script

OPENSSL = shutil.which("openssl")
TEST_CD = os.path.join(CREDS, "test-cd")
SIGNER_CERT = os.path.join(TEST_CD, "Chip-Test-CD-Signing-Cert.pem")
SIGNER_KEY = os.path.join(TEST_CD, "Chip-Test-CD-Signing-Key.pem")


@pytest.fixture(autouse=True)
def _need_openssl():
    if OPENSSL is None:
        if os.environ.get("CI"):
            raise AssertionError("openssl is not installed (tests/setup.sh installs it)")
        pytest.skip("openssl not installed")


def openssl(*args, check=True):
    p = subprocess.run([OPENSSL, *args], capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def _sample(n=6, seed=7):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        vid = rnd.choice([0xFFF1, 0xFFF2, rnd.randint(1, 0xFFF0)])
        pid = rnd.randint(1, 0xFFFF)
        start = f"{rnd.randint(2021, 2026)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        lifetime = rnd.choice([None, 3650, 20000, 36500])
        out.append((vid, pid, start, lifetime))
    return out


@pytest.mark.parametrize("vid,pid,start,lifetime", _sample())
def test_openssl_verifies_issued_chains(tmp_path, vid, pid, start, lifetime):
    life = ["--lifetime", str(lifetime)] if lifetime else []
    common = ["--valid_from", start, *life]
    assert run_script("certs", "paa", "--cn", "PAA", "--out", str(tmp_path / "PAA"), *common).code == 0
    assert run_script("certs", "pai", "--cn", "PAI", "--vendor_id", hex(vid), "--ca_cert", str(tmp_path / "PAA-Cert.pem"),
                      "--ca_key", str(tmp_path / "PAA-Key.pem"), "--out", str(tmp_path / "PAI"), *common).code == 0
    r = run_script("certs", "dac", "--cn", "DAC", "--vendor_id", hex(vid), "--product_id", hex(pid),
                   "--ca_cert", str(tmp_path / "PAI-Cert.pem"), "--ca_key", str(tmp_path / "PAI-Key.pem"),
                   "--out", str(tmp_path / "DAC"), *common)
    assert r.code == 0, r.stderr
    r = openssl("verify", "-x509_strict", "-CAfile", str(tmp_path / "PAA-Cert.pem"), "-untrusted",
                str(tmp_path / "PAI-Cert.pem"), str(tmp_path / "DAC-Cert.pem"))
    assert r.stdout.strip().endswith(": OK")
    text = openssl("x509", "-in", str(tmp_path / "DAC-Cert.pem"), "-noout", "-text").stdout
    assert "X509v3 Basic Constraints: critical\n                CA:FALSE" in text
    assert "X509v3 Key Usage: critical\n                Digital Signature\n" in text
    assert "X509v3 Subject Key Identifier" in text and "X509v3 Authority Key Identifier" in text
    assert f"1.3.6.1.4.1.37244.2.1 = {vid:04X}" in text and f"1.3.6.1.4.1.37244.2.2 = {pid:04X}" in text
    assert "ASN1 OID: prime256v1" in text and "Signature Algorithm: ecdsa-with-SHA256" in text
    pai_text = openssl("x509", "-in", str(tmp_path / "PAI-Cert.pem"), "-noout", "-text").stdout
    assert "CA:TRUE, pathlen:0" in pai_text and "Certificate Sign, CRL Sign" in pai_text
    # the key file matches the certificate (OpenSSL's view)
    pub_cert = openssl("x509", "-in", str(tmp_path / "DAC-Cert.pem"), "-noout", "-pubkey").stdout
    pub_key = openssl("ec", "-in", str(tmp_path / "DAC-Key.der"), "-inform", "DER", "-pubout").stdout
    assert pub_cert == pub_key


@pytest.mark.parametrize("vid,pids,cert_type,origin", [
    (0xFFF1, [0x8000], 0, None), (0xFFF2, [0x8001, 0x8002], 1, (0xFFF1, 0x8000)), (0x1037, [0xA220], 2, None),
])
def test_openssl_verifies_signed_cds(tmp_path, vid, pids, cert_type, origin):
    args = ["cd", "generate", "--vendor_id", hex(vid), "--device_type", "0x100", "--certificate_id",
            "ZIG20142ZB330003-24", "--certification_type", str(cert_type), "--signing_cert", SIGNER_CERT,
            "--signing_key", SIGNER_KEY, "--out", str(tmp_path / "CD.der")]
    for p in pids:
        args += ["--product_id", hex(p)]
    if origin:
        args += ["--dac_origin_vendor_id", hex(origin[0]), "--dac_origin_product_id", hex(origin[1])]
    assert run_script(*args).code == 0
    content = tmp_path / "content.bin"
    openssl("cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "CD.der"), "-certfile", SIGNER_CERT,
            "-CAfile", SIGNER_CERT, "-purpose", "any", "-binary", "-out", str(content))
    from matter_factory_data.crypto import cd

    assert cd.decode_content(content.read_bytes()).product_ids == pids
    # a flipped byte in the content fails OpenSSL too
    data = bytearray((tmp_path / "CD.der").read_bytes())
    data[60] ^= 1
    (tmp_path / "bad.der").write_bytes(bytes(data))
    r = openssl("cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "bad.der"), "-certfile", SIGNER_CERT,
                "-CAfile", SIGNER_CERT, "-purpose", "any", "-binary", "-out", os.devnull, check=False)
    assert r.returncode != 0


def test_openssl_verifies_generator_certs(tmp_path):
    from conftest import ref_args

    out = tmp_path / "fd"
    args = ref_args(str(out), gen_certs=True, gen_cd=True, dac_cert=None, dac_key=None, pai_cert=None,
                    cd_signing_cert=SIGNER_CERT, cd_signing_key=SIGNER_KEY)
    r = run_script("generate_factory_data.py", *args)
    assert r.code == 0, r.stderr
    names = set(os.listdir(tmp_path))
    assert {"PAI_cert.der", "PAI_cert.pem", "PAI_key.der", "PAI_key.pem", "DAC_cert.der", "DAC_cert.pem",
            "DAC_key.der", "DAC_key.pem", "CD.der", "PAA_cert.der", "PAA_key.der"} <= names
    r = openssl("verify", "-x509_strict", "-CAfile", str(tmp_path / "PAA_cert.pem"), "-untrusted",
                str(tmp_path / "PAI_cert.pem"), str(tmp_path / "DAC_cert.pem"))
    assert r.stdout.strip().endswith(": OK")
    openssl("cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "CD.der"), "-certfile", SIGNER_CERT,
            "-CAfile", SIGNER_CERT, "-purpose", "any", "-binary", "-out", os.devnull)
    import json

    doc = json.loads((tmp_path / "fd.json").read_text())
    assert doc["dac_cert"] == "hex:" + (tmp_path / "DAC_cert.der").read_bytes().hex()
    assert doc["pai_cert"] == "hex:" + (tmp_path / "PAI_cert.der").read_bytes().hex()
