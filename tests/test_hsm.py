"""Keys in a PKCS#11 token, with a real software token: SoftHSM2 (Debian softhsm2) and python-pkcs11. One
throwaway token per test session (SOFTHSM2_CONF in a temporary directory) with a random label and PIN;
keys imported and generated there. Chains are checked with `openssl verify -x509_strict`, CDs with
`openssl cms -verify`; the PIN must appear in no output and no file."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import FIXTURES, run_script
from matter_factory_data.crypto import hsm
from matter_factory_data.errors import InvalidInput

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
ATT = os.path.join(FIXTURES, "matter-credentials", "test-attestation")
CD = os.path.join(FIXTURES, "matter-credentials", "test-cd", "Test-CD-FFF1-8000.der")
PAI_CERT = os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.der")


def _need(tool: str) -> str:
    path = shutil.which(tool) or (tool if os.path.exists(tool) else None)
    if path is None:
        if os.environ.get("CI"):
            raise AssertionError(f"{tool} is not installed (tests/setup.sh installs softhsm2 and opensc)")
        pytest.skip(f"{tool} not installed")
    return path


class Token:
    def __init__(self, root):
        self.root = root
        self.label = "line-" + secrets.token_hex(3)
        self.pin = "P" + secrets.token_hex(6)
        self.env = {"SOFTHSM2_CONF": str(root / "softhsm2.conf"), "PKCS11_MODULE_PATH": MODULE}

    def uri(self, obj: str, pin: bool = True, form: str = "?") -> str:
        return f"pkcs11:token={self.label};object={obj}" + (f"{form}pin-value={self.pin}" if pin else "")

    def util(self, *args):
        return subprocess.run(["softhsm2-util", *args], env={**os.environ, **self.env}, capture_output=True,
                              text=True, check=True)

    def run(self, *args, env=None):
        r = run_script(*args, env={**self.env, **(env or {})})
        assert self.pin not in r.stdout + r.stderr, "the PIN was printed"
        return r


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    _need("softhsm2-util")
    _need(MODULE)
    pytest.importorskip("pkcs11") if not os.environ.get("CI") else __import__("pkcs11")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    (root / "softhsm2.conf").write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
                                        f"log.level = ERROR\n")
    t = Token(root)
    t.util("--init-token", "--free", "--label", t.label, "--pin", t.pin, "--so-pin", "S" + secrets.token_hex(6))
    # the test PAI's key, imported (PKCS#8, as softhsm2-util wants it); a 2048-bit RSA key for the wrong-type case
    key = serialization.load_der_private_key(open(os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Key.der"), "rb").read(),
                                             None)
    other = serialization.load_der_private_key(
        open(os.path.join(ATT, "Chip-Test-DAC-FFF1-8000-0000-Key.der"), "rb").read(), None)
    for label, k in (("pai", key), ("other", other), ("rsa", rsa.generate_private_key(65537, 2048))):
        p8 = root / f"{label}.p8"
        p8.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        t.util("--import", str(p8), "--token", t.label, "--label", label, "--id", secrets.token_hex(4), "--pin", t.pin)
        p8.unlink()
    saved = {k: os.environ.get(k) for k in t.env}
    os.environ.update(t.env)  # for the in-process checks below
    yield t
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _no_pin_in_files(token, root) -> None:
    for path in glob.glob(os.path.join(str(root), "**"), recursive=True) + \
            glob.glob(os.path.join(str(root), "**", ".*"), recursive=True):
        if os.path.isfile(path):
            assert token.pin.encode() not in open(path, "rb").read(), path


def _openssl(*args):
    return subprocess.run([_need("openssl"), *args], capture_output=True, text=True)


# ---------------------------------------------------------------- URIs


def test_uri_forms_and_redaction(tmp_path):
    u = hsm.parse("pkcs11:token=my%20line;object=pai;id=%01%02;pin-value=1234")
    assert (u.token, u.object, u.id, u.pin, u.safe) == ("my line", "pai", b"\x01\x02", "1234",
                                                        "pkcs11:token=my%20line;object=pai;id=%01%02")
    u = hsm.parse("pkcs11:token=t;object=k?module-path=/x.so&pin-value=99")
    assert (u.module, u.pin, u.safe) == ("/x.so", "99", "pkcs11:token=t;object=k?module-path=/x.so")
    (tmp_path / "pin").write_text("s3cret\n")
    u = hsm.parse(f"pkcs11:token=t;object=k?pin-source=file:{tmp_path / 'pin'}")
    assert u.pin == "s3cret" and "s3cret" not in u.safe
    assert hsm.display("pkcs11:token=t;object=k?pin-value=77") == "pkcs11:token=t;object=k"
    with pytest.raises(InvalidInput, match="must name a token"):
        hsm.parse("pkcs11:object=k?pin-value=77")
    with pytest.raises(InvalidInput) as e:
        hsm.parse("pkcs11:token=t;object;pin-value=77")
    assert "77" not in str(e.value)


# ---------------------------------------------------------------- issuing in the token


def test_paa_pai_generated_in_the_token_sign_a_chain_openssl_accepts(token, tmp_path):
    out = tmp_path / "c"
    r = token.run("certs", "paa", "--cn", "HSM PAA", "--vendor_id", "0xFFF1", "--out_key", token.uri("paa"),
                  "--out", str(out / "PAA"))
    assert r.code == 0, r.stderr
    r = token.run("certs", "pai", "--cn", "HSM PAI", "--vendor_id", "0xFFF1", "--ca_cert", str(out / "PAA-Cert.der"),
                  "--ca_key", token.uri("paa", form=";"), "--out_key", token.uri("pai2"), "--out", str(out / "PAI"),
                  "--pkcs11_module", MODULE)
    assert r.code == 0, r.stderr
    r = token.run("certs", "dac", "--cn", "HSM DAC", "--vendor_id", "0xFFF1", "--product_id", "0x8000",
                  "--ca_cert", str(out / "PAI-Cert.der"), "--ca_key", token.uri("pai2", pin=False),
                  "--out", str(out / "DAC"), env={"PKCS11_PIN": token.pin})
    assert r.code == 0, r.stderr
    assert sorted(os.listdir(out)) == ["DAC-Cert.der", "DAC-Cert.pem", "DAC-Key.der", "DAC-Key.pem", "PAA-Cert.der",
                                       "PAA-Cert.pem", "PAI-Cert.der", "PAI-Cert.pem"]  # no key file for a token key
    v = _openssl("verify", "-x509_strict", "-CAfile", str(out / "PAA-Cert.pem"), "-untrusted", str(out / "PAI-Cert.pem"),
                 str(out / "DAC-Cert.pem"))
    assert v.returncode == 0, v.stdout + v.stderr
    r = token.run("certs", "verify", "--dac", str(out / "DAC-Cert.der"), "--dac_key", str(out / "DAC-Key.der"),
                  "--pai", str(out / "PAI-Cert.der"), "--paa", str(out / "PAA-Cert.der"), "--strict")
    assert r.code == 0, r.stdout + r.stderr
    # the generated keys are not extractable
    import pkcs11

    key = hsm.open_key(token.uri("pai2"))
    assert key._handle[pkcs11.Attribute.EXTRACTABLE] is False and key._handle[pkcs11.Attribute.SENSITIVE] is True
    with pytest.raises(Exception, match="stays in the token"):
        key.private_numbers()
    # a label already taken is refused before anything is written
    r = token.run("certs", "paa", "--cn", "X", "--out_key", token.uri("paa"), "--out", str(tmp_path / "x" / "PAA"))
    assert r.code == 2 and "already holds a private key labelled 'paa'" in r.stderr
    assert not (tmp_path / "x").exists()
    _no_pin_in_files(token, tmp_path)


def test_cd_signed_in_the_token_verifies_with_openssl(token, tmp_path):
    r = token.run("certs", "paa", "--cn", "HSM CD Signer", "--out_key", token.uri("cdsigner"), "--out",
                  str(tmp_path / "CDS"))
    assert r.code == 0, r.stderr
    r = token.run("cd", "generate", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--signing_cert",
                  str(tmp_path / "CDS-Cert.pem"), "--signing_key", token.uri("cdsigner"), "--out", str(tmp_path / "CD.der"))
    assert r.code == 0, r.stderr
    v = _openssl("cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "CD.der"), "-certfile",
                 str(tmp_path / "CDS-Cert.pem"), "-CAfile", str(tmp_path / "CDS-Cert.pem"), "-purpose", "any", "-binary",
                 "-out", os.devnull)
    assert v.returncode == 0, v.stdout + v.stderr
    # the json generator's --gen_certs/--gen_cd with the PAA and the CD signer in the token
    r = token.run("json", "--sn", "SN1", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--date", "2026-12-07",
                  "--vendor_name", "V", "--product_name", "P",
                  "--hw_ver", "1", "--hw_ver_str", "1.0", "--spake2_it", "1000", "--spake2_salt",
                  "U1BBS0UyUCBLZXkgU2FsdA==", "--discriminator", "0xF00", "--passcode", "20202021", "--gen_certs",
                  "--gen_cd", "--paa_cert", str(tmp_path / "CDS-Cert.der"), "--paa_key", token.uri("cdsigner"),
                  "--cd_signing_cert", str(tmp_path / "CDS-Cert.der"), "--cd_signing_key", token.uri("cdsigner"),
                  "-o", str(tmp_path / "j" / "fd"))
    assert r.code == 0, r.stderr
    assert not glob.glob(str(tmp_path / "j" / "PAA_key*")) and not glob.glob(str(tmp_path / "j" / "CD_signing*key*"))
    _no_pin_in_files(token, tmp_path)


# ---------------------------------------------------------------- batches and drop-ins


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_batch_of_200_signed_in_the_token(token, tmp_path, jobs):
    r = token.run("batch", "--count", "200", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--vendor_name", "V",
                  "--product_name", "P", "--date", "2026-12-07", "--pai_cert", PAI_CERT, "--pai_key", token.uri("pai"),
                  "--paa_cert", os.path.join(ATT, "Chip-Test-PAA-FFF1-Cert.der"), "--out", str(tmp_path / "b"),
                  "--no_png", "--jobs", jobs)
    assert r.code == 0, r.stderr
    assert f"DAC signatures/s in pkcs11:token={token.label};object=pai" in r.stderr
    root = tmp_path / "b" / "fff1_8000"
    dirs = sorted(d for d in os.listdir(root) if d.startswith("FFF1"))
    assert len(dirs) == 200
    paa_pem = tmp_path / "paa.pem"
    paa_pem.write_text(open(os.path.join(ATT, "Chip-Test-PAA-FFF1-Cert.pem")).read())
    for d in dirs[::40]:
        dac = root / d / "DAC_cert.der"
        pem = tmp_path / f"{d}.pem"
        pem.write_text(_openssl("x509", "-inform", "DER", "-in", str(dac)).stdout)
        v = _openssl("verify", "-x509_strict", "-CAfile", str(paa_pem), "-untrusted",
                     os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.pem"), str(pem))
        assert v.returncode == 0, v.stdout + v.stderr
        ins = run_script("inspect", str(root / d / "factory_data.hex"))
        assert ins.code == 0 and "result: OK" in ins.stdout
    _no_pin_in_files(token, tmp_path)


def test_drop_ins_sign_with_k_in_the_token(token, tmp_path):
    pai_pem = os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.pem")
    r = token.run("telink", "-n", "20", "-v", "0xFFF1", "-p", "0x8000", "--pai", "-c", pai_pem, "-k", token.uri("pai"),
                  "-cd", CD, "--offset", "0xFF000", "--size", "0x1000", "--output", str(tmp_path / "t"), "--jobs", "2",
                  "--quiet")
    assert r.code == 0, r.stderr
    r = token.run("esp32", "-n", "10", "-v", "0xFFF1", "-p", "0x8000", "--pai", "-c", pai_pem, "-k", token.uri("pai"),
                  "-cd", CD, "--outdir", str(tmp_path / "e"), "--log-level", "error", "--jobs", "2")
    assert r.code == 0, r.stderr
    for dac in glob.glob(str(tmp_path / "t" / "fff1_8000" / "*" / "internal" / "DAC_cert.pem"))[:3] + \
            glob.glob(str(tmp_path / "e" / "fff1_8000" / "*" / "internal" / "DAC_cert.pem"))[:3]:
        v = _openssl("verify", "-x509_strict", "-partial_chain", "-CAfile", pai_pem, dac)
        assert v.returncode == 0, v.stdout + v.stderr
    _no_pin_in_files(token, tmp_path)


def test_python_api_takes_a_uri(token, tmp_path):
    from matter_factory_data import api

    report = api.run_batch(api.BatchRequest(
        vendor_id=0xFFF1, product_id=0x8000, vendor_name="V", product_name="P", date="2026-12-07", pai_cert=PAI_CERT,
        pai_key=token.uri("pai"), out=str(tmp_path / "api"), count=3, no_png=True, quiet=True, jobs=1))
    assert report is not None and len(glob.glob(str(tmp_path / "api" / "fff1_8000" / "FFF1*"))) == 3


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("case, code, message", [
    ("wrong_pin", 2, "wrong PIN (CKR_PIN_INCORRECT)"),
    ("no_token", 2, "no token labelled 'nope-"),
    ("no_object", 2, "no private key labelled 'missing' in token"),
    ("rsa", 2, "is a RSA key; Matter needs an EC P-256 key"),
    ("no_module", 1, "the PKCS#11 module '/nonexistent/libp11.so' does not exist"),
    ("not_a_module", 1, "is not a PKCS#11 module"),
    ("no_pin", 2, "no PIN: add ?pin-value="),
    ("key_not_the_pai", 2, "--pai_key does not match --pai_cert"),
])
def test_errors_are_one_line_naming_the_uri_without_the_pin(token, tmp_path, case, code, message):
    uri, env = token.uri("pai"), {}
    if case == "wrong_pin":
        uri = uri.replace(token.pin, token.pin + "x")
    elif case == "no_token":
        uri = f"pkcs11:token=nope-{token.label};object=pai?pin-value={token.pin}"
    elif case == "no_object":
        uri = token.uri("missing")
    elif case == "rsa":
        uri = token.uri("rsa")
    elif case == "no_module":
        env = {"PKCS11_MODULE_PATH": "/nonexistent/libp11.so"}
    elif case == "not_a_module":
        (tmp_path / "fake.so").write_bytes(b"not a shared object")
        env = {"PKCS11_MODULE_PATH": str(tmp_path / "fake.so")}
    elif case == "no_pin":
        uri = token.uri("pai", pin=False)
    elif case == "key_not_the_pai":
        uri = token.uri("other")
    r = token.run("batch", "--count", "2", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--vendor_name", "V",
                  "--product_name", "P", "--date", "2026-12-07", "--pai_cert", PAI_CERT, "--pai_key", uri,
                  "--out", str(tmp_path / "b"), "--no_png", env=env)
    assert r.code == code and message in r.stderr.replace("--pai_key: ", "--pai_key "), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "b").exists()
    if case not in ("key_not_the_pai",):
        assert "pkcs11:token=" in r.stderr  # the URI is named (without its PIN: Token.run checks)



def test_readme_walk_through_runs_as_written(tmp_path):
    """The README's SoftHSM2 walk-through (its second shell block under "Keys in an HSM"), run as it stands in an
    empty directory with this installation's matter-factory-data on PATH."""
    import re
    import sys

    from conftest import ROOT

    _need("softhsm2-util")
    _need("pkcs11-tool")
    section = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().split("## Keys in an HSM", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2 and "softhsm2-util --init-token" in blocks[1]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "matter-factory-data"
    launcher.write_text(f"#!/bin/sh\nPYTHONPATH={os.path.join(ROOT, 'scripts')} exec {sys.executable} -m "
                        f"matter_factory_data \"$@\"\n")
    launcher.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("SOFTHSM2_CONF", "PKCS11_MODULE_PATH", "PKCS11_PIN")}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    work = tmp_path / "work"
    work.mkdir()
    r = subprocess.run(["bash", "-c", blocks[1]], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "hsm/DAC-0001-Cert.pem: OK" in r.stdout
    assert len(glob.glob(str(work / "hsm" / "batch" / "fff1_8000" / "FFF1*"))) == 200
    assert "label:      paa" in r.stdout and "label:      pai" in r.stdout
    assert not glob.glob(str(work / "hsm" / "PA*-Key.*"))  # the token keys are nowhere on disk
    assert "123456" not in r.stderr


def test_a_locked_pin_is_named(monkeypatch):
    """SoftHSM2 never locks a PIN, so the token's answer is played here: CKR_PIN_LOCKED from C_Login."""
    pkcs11 = pytest.importorskip("pkcs11")

    class LockedToken:
        def open(self, **kwargs):
            raise pkcs11.exceptions.PinLocked()

    class Lib:
        initialized = True

        def get_token(self, token_label):
            return LockedToken()

    monkeypatch.setattr(hsm, "_lib", lambda path, uri: Lib())
    monkeypatch.setattr(hsm, "_SESSIONS", {})
    monkeypatch.setenv("PKCS11_MODULE_PATH", "/any/module.so")
    with pytest.raises(InvalidInput) as e:
        hsm.open_key("pkcs11:token=t;object=k?pin-value=2468")
    assert str(e.value) == ("pkcs11:token=t;object=k: the user PIN is locked (CKR_PIN_LOCKED): unlock it with the "
                            "SO PIN") and "2468" not in str(e.value)


def test_workers_logging_in_together_all_get_their_session(token):
    """SoftHSM2 rewrites its token file on every login: processes that log in at the same moment once read it
    half-written (GeneralError, "no token"). Logins are serialised and retried: 10 rounds of 4 forked
    workers, each opening its own session and signing, all succeed."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    uri = token.uri("pai")
    hsm.open_key(uri)
    failures = 0
    for _ in range(10):
        hsm.release()  # as the engine does before its workers start
        children = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child's exit status is what is checked
                try:
                    key = hsm.open_key(uri)
                    for _ in range(20):
                        key.sign(b"tbs", ec.ECDSA(hashes.SHA256()))
                    os._exit(0)
                except BaseException:
                    os._exit(1)
            children.append(pid)
        failures += sum(os.waitpid(pid, 0)[1] != 0 for pid in children)
    assert failures == 0
    hsm.open_key(uri)


def test_nxp_certs_generate_with_the_paa_and_cd_signer_in_the_token(token, tmp_path):
    r = token.run("certs", "paa", "--cn", "HSM NXP PAA", "--vendor_id", "0xFFF1", "--out_key", token.uri("nxppaa"),
                  "--out", str(tmp_path / "PAA"), "--valid_from", "2026-01-01")
    assert r.code == 0, r.stderr
    r = token.run("certs", "generate", "-o", str(tmp_path / "g"), "--vendor_id", "0xFFF1", "--product_id", "0x8000",
                  "--vendor_name", "Acme", "--product_name", "Lamp", "--paa_cert", str(tmp_path / "PAA-Cert.der"),
                  "--paa_key", token.uri("nxppaa"), "--gen_cd", "--cd_signing_cert", str(tmp_path / "PAA-Cert.pem"),
                  "--cd_signing_key", token.uri("nxppaa"), "--valid_from", "2026-06-01 00:00:00")
    assert r.code == 0, r.stderr
    g = tmp_path / "g"
    v = _openssl("verify", "-x509_strict", "-CAfile", str(tmp_path / "PAA-Cert.pem"), "-untrusted",
                 str(g / "Chip-PAI-NXP-FFF1-8000-Cert.pem"), str(g / "Chip-DAC-NXP-FFF1-8000-Cert.pem"))
    assert v.returncode == 0, v.stdout + v.stderr
    v = _openssl("cms", "-verify", "-inform", "DER", "-in", str(g / "Chip-Test-CD-FFF1-8000.der"), "-certfile",
                 str(tmp_path / "PAA-Cert.pem"), "-CAfile", str(tmp_path / "PAA-Cert.pem"), "-purpose", "any",
                 "-binary", "-out", os.devnull)
    assert v.returncode == 0, v.stdout + v.stderr
    _no_pin_in_files(token, tmp_path)
