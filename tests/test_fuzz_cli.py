"""Property-based attacks on every command: generated bad arguments and corrupted images.

Each example runs a command in-process (``cli.main``, the console script's own function) with one option of a
working command line replaced by a generated hostile value. Whatever the value, the command must end with
an exit code (0, 1 or 2), never an exception (a traceback); a failed run leaves its output directory exactly
as it was; a user error is one line on stderr."""

from __future__ import annotations

import contextlib
import io
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CREDS, FIXTURES, ROOT
from matter_factory_data import cli

TEST_ATT = os.path.join(CREDS, "test-attestation")
PAI = os.path.join(TEST_ATT, "Chip-Test-PAI-FFF1-8000-Cert.pem")
PAI_KEY = os.path.join(TEST_ATT, "Chip-Test-PAI-FFF1-8000-Key.pem")
PAA = os.path.join(TEST_ATT, "Chip-Test-PAA-FFF1-Cert.pem")
DAC = os.path.join(TEST_ATT, "Chip-Test-DAC-FFF1-8000-0000-Cert.der")
DAC_KEY = os.path.join(TEST_ATT, "Chip-Test-DAC-FFF1-8000-0000-Key.der")
CD = os.path.join(CREDS, "test-cd", "Test-CD-FFF1-8000.der")
CD_SIGNER = os.path.join(CREDS, "test-cd", "Chip-Test-CD-Signing-Cert.pem")
CD_SIGNER_KEY = os.path.join(CREDS, "test-cd", "Chip-Test-CD-Signing-Key.pem")
SALT = "U1BBS0UyUCBLZXkgU2FsdA=="

# command -> (options with working values, flags); OUT is replaced by the example's output directory
COMMANDS = {
    "json": ({"--sn": "SN1", "--vendor_id": "0xFFF1", "--product_id": "0x8000", "--vendor_name": "Acme",
              "--product_name": "Lamp", "--date": "2024-01-15", "--hw_ver": "1", "--hw_ver_str": "1.0",
              "--dac_cert": DAC, "--dac_key": DAC_KEY, "--pai_cert": PAI, "--spake2_it": "1000",
              "--spake2_salt": SALT, "--passcode": "20202021", "--discriminator": "0xF00", "--offset": "0xfb000",
              "--size": "0x1000", "--user": '{"a": 1}', "--rd_uid": "91a9c12a7c80700a31ddcfa7fce63e44",
              "-o": "OUT/fd"}, ["--generate_onboarding"]),
    "certs paa": ({"--cn": "PAA", "--vendor_id": "0xFFF1", "--valid_from": "2024-01-01", "--lifetime": "7300",
                   "--out": "OUT/PAA"}, []),
    "certs dac": ({"--cn": "DAC", "--vendor_id": "0xFFF1", "--product_id": "0x8000", "--ca_cert": PAI,
                   "--ca_key": PAI_KEY, "--valid_from": "2024-01-01", "--lifetime": "7300", "--out": "OUT/DAC"}, []),
    "certs generate": ({"-o": "OUT/creds", "--vendor_id": "0xFFF1", "--product_id": "0x8000", "--vendor_name": "Acme",
                        "--product_name": "Lamp", "--valid_from": "2024-01-01", "--lifetime": "7300"}, []),
    "certs verify": ({"--dac": DAC, "--pai": PAI, "--paa": PAA, "--date": "2024-01-15",
                      "--vendor_id": "0xFFF1", "--product_id": "0x8000"}, []),
    "cd generate": ({"--vendor_id": "0xFFF1", "--product_id": "0x8000", "--device_type": "0x0100",
                     "--certificate_id": "ZIG20142ZB330003-24", "--certification_type": "0",
                     "--signing_cert": CD_SIGNER, "--signing_key": CD_SIGNER_KEY, "--out": "OUT/CD.der"}, []),
    "onboarding": ({"--vendor_id": "0xFFF1", "--product_id": "0x8000", "--discriminator": "3840",
                    "--passcode": "20202021"}, []),
    "layout check": ({"FILE": os.path.join(ROOT, "pm_static.yml.example"), "--flash_size": "0x100000",
                      "--page_size": "0x1000"}, []),
    "batch": ({"--count": "2", "--vendor_id": "0xFFF1", "--product_id": "0x8000", "--vendor_name": "Acme",
               "--product_name": "Lamp", "--date": "2024-01-15", "--hw_ver": "1", "--pai_cert": PAI,
               "--pai_key": PAI_KEY, "--valid_from": "2024-01-15", "--lifetime": "7300", "--serial_pattern": "SN{n}",
               "--offset": "0xfb000", "--size": "0x1000", "--jobs": "1", "--seed": "fuzz", "--out": "OUT"},
              ["--quiet", "--no_png"]),
    "nxp": ({"-i": "1000", "-s": SALT, "-p": "20202021", "-d": "1000", "--vid": "0xFFF1", "--pid": "0x8000",
             "--vendor_name": "Acme", "--product_name": "Lamp", "--serial_num": "SN1", "--date": "2024-01-15",
             "--hw_version": "1", "--hw_version_str": "1.0", "--cert_declaration": CD, "--dac_cert": DAC,
             "--dac_key": DAC_KEY, "--pai_cert": PAI, "--unique_id": "00112233445566778899aabbccddeeff",
             "--out": "OUT/nxp.bin"}, []),
    "esp32": ({"-v": "0xFFF1", "-p": "0x8000", "--vendor-name": "Acme", "--product-name": "Lamp",
               "--mfg-date": "2024-01-15", "--hw-ver": "1", "--hw-ver-str": "1.0", "-n": "1", "--jobs": "1",
               "--passcode": "20202021", "--discriminator": "1", "--outdir": "OUT"}, []),
}

# checking commands report their findings on stdout; every other failure is one line on stderr
REPORTS = ("layout check", "certs verify")
HOSTILE = st.one_of(
    st.sampled_from([
        "", " ", "\udcff\udcfe", "A" * 65, "A" * 300, "-1", "0x-5", "99999999999999999999", "0", "0x100000000",
        "９９９９", "２０２４-01-01", "1949-12-31", "10000-01-01", "2024-02-30", "0000-00-00", "9999-12-31",
        "nan", "{", "[" * 3000 + "]" * 3000, '{"a": "\\ud800"}', "=cmd|' /C calc'!A0", "+1", "@x", "\t1", "/dev/zero",
        "/proc/self/mem", "/", ".", "..", "OUT/", "\x00", "pkcs11:token=x", "é" * 40, "0b102", "1e9", "\r", "a\nb",
    ]),
    st.text(max_size=40),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70).map(str),
)


def _argv(command: str, options: dict, flags: list, out: str) -> list[str]:
    argv = command.split()
    for key, value in options.items():
        value = value.replace("OUT", out)
        if key == "FILE":
            argv.append(value)
        else:
            argv += [key, value]
    return argv + flags


def _snapshot(path: str) -> dict:
    found = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            found[os.path.relpath(full, path)] = os.path.getsize(full) if os.path.isfile(full) else None
    return found


def _run(argv: list[str], cwd: str) -> tuple[int, str]:
    """``cli.main(argv)`` in ``cwd`` (relative hostile paths land there, not in the checkout)."""
    err = io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = cli.main(argv)
            except SystemExit as e:  # argparse's usage errors
                code = e.code if isinstance(e.code, int) else 2
    finally:
        os.chdir(here)
    return code, err.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(sorted(COMMANDS)), data=st.data())
def test_hostile_argument_values_end_cleanly(tmp_path_factory, command, data):
    options, flags = COMMANDS[command]
    key = data.draw(st.sampled_from(sorted(options)), label="option")
    value = data.draw(HOSTILE, label="value")
    out = str(tmp_path_factory.mktemp("fuzz"))
    before = _snapshot(out)
    code, err = _run(_argv(command, dict(options, **{key: value}), flags, out), out)
    assert code in (0, 1, 2), (command, key, value, code, err)
    if code != 0:
        assert _snapshot(out) == before, (command, key, value, err)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 or (command in REPORTS and not lines), (command, key, value, err)
    shutil.rmtree(out, ignore_errors=True)


def test_every_working_command_line_works(tmp_path):
    """The base command lines the attacks start from are themselves valid (so the attacks mean something)."""
    for command, (options, flags) in COMMANDS.items():
        out = str(tmp_path / command.replace(" ", "_"))
        os.makedirs(out)
        code, err = _run(_argv(command, options, flags, out), out)
        assert code == 0, (command, err)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("images"))
    for command in ("json", "nxp"):
        options, flags = COMMANDS[command]
        code, err = _run(_argv(command, options, flags, out), out)
        assert code == 0, err
    code, err = _run(_argv("esp32", *COMMANDS["esp32"], out + "/esp"), out)
    assert code == 0, err
    esp = [os.path.join(r, f) for r, _, fs in os.walk(out + "/esp") for f in fs if f.endswith("-partition.bin")]
    return [open(p, "rb").read() for p in (out + "/fd.hex", out + "/fd.bin", out + "/nxp.bin", out + "/fd.json", esp[0])] + \
        [open(os.path.join(FIXTURES, "nxp-demo", "pai", "Chip-PAI-NXP-1037-A220-Cert.der"), "rb").read()]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_images_are_clean_errors_in_inspect(tmp_path_factory, images, data):
    image = bytearray(data.draw(st.sampled_from(images), label="image"))
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "zero"]), label="kind")
        at = data.draw(st.integers(0, max(0, len(image) - 1)), label="at")
        if kind == "flip" and image:
            image[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del image[at:]
        elif kind == "insert":
            image[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif image:
            image[at] = 0
    where = tmp_path_factory.mktemp("inspect")
    path = str(where / data.draw(st.sampled_from(["x.hex", "x.bin", "x.json", "x.cbor"])))
    with open(path, "wb") as f:
        f.write(image)
    extra = data.draw(st.sampled_from([[], ["--json"], ["--aes128_key", "00" * 16], ["--offset", "0"]]))
    code, err = _run(["inspect", path, *extra], str(where))
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err
