"""Mass production: uniqueness and validity, kill-and-resume, reproducible seeded batches, CSV rows."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import types

import pytest

from matter_factory_data.formats import telink
from hypothesis import given, settings
from hypothesis import strategies as st

from matter_factory_data.codes import onboarding
from matter_factory_data.crypto import spake2p
from matter_factory_data.errors import InvalidInput, OperationFailed
from matter_factory_data.production import batch, derive, engine
from matter_factory_data.inspection import inspect_bytes, inspect_file
from conftest import CREDS, SCRIPTS, assert_clean_error, run_script

TEST = os.path.join(CREDS, "test-attestation")
PAI = ["--pai_cert", os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.der"),
       "--pai_key", os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Key.der")]
COMMON = ["--vendor_id", "0xFFF1", "--product_id", "0x8000", "--vendor_name", "Acme", "--product_name", "Lamp",
          "--date", "2024-05-01", *PAI, "--quiet"]


def manifest(batch_dir):
    with open(os.path.join(batch_dir, "manifest.csv"), newline="") as f:
        return list(csv.DictReader(f))


def device_dirs(batch_dir):
    return sorted(d for d in os.listdir(batch_dir) if os.path.isdir(os.path.join(batch_dir, d)) and not d.startswith("."))


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    out = tmp_path_factory.mktemp("big")
    r = run_script("batch", "--count", "2000", *COMMON, "--paa_cert", os.path.join(TEST, "Chip-Test-PAA-FFF1-Cert.der"),
                   "--include_passcode", "--out", str(out))
    assert r.code == 0, r.stderr
    return os.path.join(out, "fff1_8000")


def test_layout_and_manifest(big):
    rows = manifest(big)
    assert len(rows) == 2000
    with open(os.path.join(big, "manifest.csv")) as f:
        assert f.readline().strip() == batch.MANIFEST_HEADER
    assert [r["serial"] for r in rows] == [f"FFF18000-{n:06d}" for n in range(1, 2001)]
    assert device_dirs(big) == sorted(r["serial"] for r in rows) and all(r["path"] == r["serial"] for r in rows)
    first = os.path.join(big, rows[0]["path"])
    assert sorted(os.listdir(first)) == ["DAC_cert.der", "DAC_key.der", "factory_data.bin", "factory_data.hex",
                                         "factory_data.json", "onboarding.png", "onboarding.txt"]
    for name in ("DAC_key.der", "factory_data.bin", "factory_data.hex", "factory_data.json", "onboarding.png",
                 "onboarding.txt"):
        assert os.stat(os.path.join(first, name)).st_mode & 0o777 == 0o600
    assert os.stat(os.path.join(big, "manifest.csv")).st_mode & 0o777 == 0o600
    assert not os.path.exists(os.path.join(big, ".staging"))
    assert "key" not in json.load(open(os.path.join(big, ".batch.json")))  # the batch key is gone once complete


def test_every_value_is_unique(big):
    rows = manifest(big)
    for column in ("serial", "passcode", "discriminator", "spake2_salt", "rd_uid", "dac_serial", "dac_sha256",
                   "qr_code", "manual_code"):
        values = [r[column] for r in rows]
        assert len(set(values)) == len(values), column
    assert all(spake2p.is_valid_passcode(int(r["passcode"])) for r in rows)
    assert all(0 <= int(r["discriminator"]) <= 4095 for r in rows)
    assert all(len(base64.b64decode(r["spake2_salt"])) == 32 for r in rows)


def test_every_image_passes_inspect_and_matches_the_manifest(big):
    rows = manifest(big)
    for r in rows:
        d = os.path.join(big, r["path"])
        with open(os.path.join(d, "factory_data.hex"), "rb") as f:
            ins = inspect_bytes(f.read(), "factory_data.hex")  # verifier <-> passcode, DAC key, DAC <- PAI
        assert ins.ok, (r["serial"], ins.errors)
        fd = ins.model
        assert (fd.sn, fd.passcode, fd.discriminator, fd.spake2_it) == (r["serial"], int(r["passcode"]),
                                                                        int(r["discriminator"]), 1000)
        assert fd.spake2_salt == base64.b64decode(r["spake2_salt"]) and fd.rd_uid.hex() == r["rd_uid"]
        assert hashlib.sha256(fd.dac_cert).hexdigest() == r["dac_sha256"]
        with open(os.path.join(d, "DAC_cert.der"), "rb") as f:
            assert f.read() == fd.dac_cert
        with open(os.path.join(d, "onboarding.txt")) as f:
            assert f.read() == f"Manualcode : {r['manual_code']}\nQRCode : {r['qr_code']}"
        p = onboarding.parse_qr(r["qr_code"])
        assert (p.passcode, p.discriminator, p.vendor_id, p.product_id) == (fd.passcode, fd.discriminator, 0xFFF1, 0x8000)


@pytest.mark.sdk
def test_codes_decode_in_the_matter_sdk(big):
    from test_sdk_conformance import sdk_parse

    rows = manifest(big)
    parsed = sdk_parse([{"qr": r["qr_code"], "manual": r["manual_code"]} for r in rows])
    for r, res in zip(rows, parsed):
        assert res["qr"]["SetUpPINCode"] == r["passcode"] and res["qr"]["Long discriminator"] == r["discriminator"]
        assert res["qr"]["VendorID"] == str(0xFFF1) and res["qr"]["ProductID"] == str(0x8000)
        assert res["manual"]["SetUpPINCode"] == r["passcode"]
        assert res["manual"]["Short discriminator"] == str(int(r["discriminator"]) >> 8)


def test_dacs_verify_with_openssl(big):
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    rows = manifest(big)[:25]
    pai_pem = os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.pem")
    paa_pem = os.path.join(TEST, "Chip-Test-PAA-FFF1-Cert.pem")
    for r in rows:
        der = os.path.join(big, r["path"], "DAC_cert.der")
        pem = subprocess.run(["openssl", "x509", "-inform", "DER", "-in", der], capture_output=True, text=True).stdout
        v = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", paa_pem, "-untrusted", pai_pem],
                           input=pem, capture_output=True, text=True)
        assert v.returncode == 0 and v.stdout.strip().endswith("OK"), v.stdout + v.stderr


def test_rerun_of_a_finished_batch_changes_nothing(big):
    before = {d: os.stat(os.path.join(big, d)).st_mtime_ns for d in device_dirs(big)[:50]}
    m = os.stat(os.path.join(big, "manifest.csv")).st_mtime_ns
    r = run_script("batch", "--count", "2000", *COMMON, "--paa_cert", os.path.join(TEST, "Chip-Test-PAA-FFF1-Cert.der"),
                   "--include_passcode", "--out", os.path.dirname(big))
    assert r.code == 0, r.stderr
    assert os.stat(os.path.join(big, "manifest.csv")).st_mtime_ns == m
    assert {d: os.stat(os.path.join(big, d)).st_mtime_ns for d in device_dirs(big)[:50]} == before


def test_a_different_batch_is_refused_unless_overwrite(tmp_path):
    assert run_script("batch", "--count", "3", *COMMON, "--out", str(tmp_path)).code == 0
    r = run_script("batch", "--count", "4", *COMMON, "--out", str(tmp_path))
    assert_clean_error(r, 1, "holds a different batch", "--overwrite")
    assert len(manifest(tmp_path / "fff1_8000")) == 3
    r = run_script("batch", "--count", "4", *COMMON, "--out", str(tmp_path), "--overwrite")
    assert r.code == 0 and len(manifest(tmp_path / "fff1_8000")) == 4


def _tree(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f == ".batch.json":
                continue
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def test_seeded_batches_are_byte_identical(tmp_path):
    args = ["--count", "40", *COMMON, "--seed", "ci-42"]
    assert run_script("batch", *args, "--out", str(tmp_path / "a"), "--jobs", "2").code == 0
    assert run_script("batch", *args, "--out", str(tmp_path / "b"), "--jobs", "1").code == 0
    # the portable worker pool (ProcessPoolExecutor) makes the same bytes as the fork/pipe pool
    assert run_script("batch", *args, "--out", str(tmp_path / "s"), "--jobs", "2",
                      env={"MATTER_FACTORY_DATA_POOL": "stdlib"}).code == 0
    a, b, s = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "s")
    assert len(a) == 40 * 7 + 1 and a == b == s
    r = run_script("batch", *args, "--out", str(tmp_path / "c"), "--seed", "other")
    assert _tree(tmp_path / "c") != a


def test_seed_is_refused_for_production_vendor_ids(tmp_path):
    from conftest import FIXTURES

    nxp = os.path.join(FIXTURES, "nxp-demo")
    args = ["--count", "2", "--vendor_id", "0x1037", "--product_id", "0xA220", "--vendor_name", "NXP",
            "--product_name", "Demo", "--date", "2024-05-01",
            "--pai_cert", os.path.join(nxp, "pai/Chip-PAI-NXP-1037-A220-Cert.der"),
            "--pai_key", os.path.join(nxp, "pai/Chip-PAI-NXP-1037-A220-Key.pem"), "--seed", "x", "--out", str(tmp_path)]
    assert_clean_error(run_script("batch", *args), 2, "--seed", "production vendor ID 0x1037", "--force")
    r = run_script("batch", *args, "--force")
    assert r.code == 0 and "test batches only" in r.stderr


@pytest.mark.parametrize("kill_after", [0.3, 0.8, 1.5])
def test_kill_and_resume(tmp_path, kill_after):
    args = ["--count", "300", *COMMON, "--seed", "resume", "--jobs", "2", "--no_png"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = SCRIPTS
    proc = subprocess.Popen([sys.executable, "-m", "matter_factory_data", "batch", *args, "--out", str(tmp_path / "k")],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    bd = tmp_path / "k" / "fff1_8000"
    if bd.exists() and (bd / "manifest.csv").exists():
        rows = manifest(bd)
        for r in rows:  # whatever the manifest lists is complete
            assert len(os.listdir(bd / r["path"])) == 6
    r = run_script("batch", *args, "--out", str(tmp_path / "k"))
    assert r.code == 0, r.stderr
    rows = manifest(bd)
    assert len(rows) == 300 and device_dirs(bd) == sorted(r["serial"] for r in rows)
    assert not (bd / ".staging").exists()
    for column in ("serial", "passcode", "discriminator", "dac_serial"):
        assert len({r[column] for r in rows}) == 300
    # identical to an uninterrupted run
    assert run_script("batch", *args, "--out", str(tmp_path / "u")).code == 0
    assert _tree(tmp_path / "k") == _tree(tmp_path / "u")


def test_csv_rows_fix_values(tmp_path):
    dac = os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Cert.der")
    key = os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Key.der")
    (tmp_path / "devices.csv").write_text(
        "serial,passcode,discriminator,spake2_salt,rd_uid,dac_cert,dac_key,user.color\n"
        f"SN-A,20202022,100,{base64.b64encode(bytes(range(16))).decode()},{'ab' * 16},{dac},{key},red\n"
        "SN-B,,,,,,,\n"
        "SN-C,34567890,,,,,,blue\n")
    r = run_script("batch", "--csv", str(tmp_path / "devices.csv"), *COMMON, "--include_passcode",
                   "--out", str(tmp_path / "o"))
    assert r.code == 0, r.stderr
    bd = tmp_path / "o" / "fff1_8000"
    rows = manifest(bd)
    assert [r["serial"] for r in rows] == ["SN-A", "SN-B", "SN-C"]
    a = json.loads((bd / "SN-A" / "factory_data.json").read_text())
    assert a["passcode"] == 20202022 and a["discriminator"] == 100 and a["rd_uid"] == "hex:" + "ab" * 16
    assert a["spake2_salt"] == "hex:" + bytes(range(16)).hex() and a["user"] == {"color": "red"}
    assert (bd / "SN-A" / "DAC_cert.der").read_bytes() == open(dac, "rb").read()
    assert spake2p.verifier_matches(bytes.fromhex(a["spake2_verifier"][4:]), 20202022, bytes(range(16)), 1000)
    c = json.loads((bd / "SN-C" / "factory_data.json").read_text())
    assert c["passcode"] == 34567890 and c["user"] == {"color": "blue"}
    assert len({r["discriminator"] for r in rows}) == 3


def test_bad_csv_rows_are_reported_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("serial,passcode,dac_cert,dac_key\n"
                   "S1,11111111,,\n"
                   "S2,20202022,,\n"
                   "S2,20202023,,\n"
                   "S4,20202024\n"
                   "S5,20202025,missing.der,missing-key.der\n"
                   "S6,20202026,,\n")
    r = run_script("batch", "--csv", str(bad), *COMMON, "--out", str(tmp_path / "o"))
    assert r.code == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert any(f"{bad}:2: passcode" in ln and "not allowed" in ln for ln in lines)
    assert any(f"{bad}:4: serial" in ln and "appears twice" in ln for ln in lines)
    assert any(f"{bad}:5" in ln and "missing column" in ln for ln in lines)
    assert any(f"{bad}:6" in ln and "cannot read" in ln for ln in lines)
    assert lines[-1].endswith("4 bad row(s); fix them or use --skip_bad_rows (nothing was produced)")
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")
    r = run_script("batch", "--csv", str(bad), *COMMON, "--out", str(tmp_path / "o"), "--skip_bad_rows")
    assert r.code == 0
    assert [x["serial"] for x in manifest(tmp_path / "o" / "fff1_8000")] == ["S2", "S6"]
    (tmp_path / "unknown.csv").write_text("serial,colour\nS1,red\n")
    assert_clean_error(run_script("batch", "--csv", str(tmp_path / "unknown.csv"), *COMMON, "--out", str(tmp_path / "p")),
                       2, "colour", "unknown column")


def test_no_secrets_in_manifest_and_no_png(tmp_path):
    r = run_script("batch", "--count", "5", *COMMON, "--no_secrets_in_manifest", "--no_png", "--out", str(tmp_path))
    assert r.code == 0
    bd = tmp_path / "fff1_8000"
    rows = manifest(bd)
    assert all(r["passcode"] == r["manual_code"] == r["qr_code"] == "" for r in rows)
    assert all(r["discriminator"] and r["dac_sha256"] for r in rows)
    assert os.stat(bd / "manifest.csv").st_mode & 0o777 == 0o644
    assert not (bd / rows[0]["path"] / "onboarding.png").exists()


@pytest.mark.parametrize("fmt,image", [("nrfconnect", "factory_data.hex"), ("nxp", "factory_data.bin"),
                                        ("esp32", "partition.bin"), ("telink", "factory_data.hex")])
def test_optional_fields_reach_every_image(tmp_path, fmt, image):
    """The fields every device shares (written once per worker) are in each device's image, whatever the
    format; --enable_key once stopped the batch with a traceback."""
    cd = tmp_path / "CD.der"
    r = run_script("cd", "generate", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--signing_cert",
                   os.path.join(CREDS, "test-cd", "Chip-Test-CD-Signing-Cert.pem"), "--signing_key",
                   os.path.join(CREDS, "test-cd", "Chip-Test-CD-Signing-Key.pem"), "--out", str(cd))
    assert r.code == 0, r.stderr
    r = run_script("batch", "--count", "6", *COMMON, "--format", fmt, "--cd", str(cd), "--no_png", "--jobs", "2",
                   "--enable_key", "0f0e0d0c0b0a09080706050403020100", "--sw_ver_str", "2.1", "--product_finish",
                   "satin", "--product_color", "gold", "--include_passcode", "--no_rd_uid", "--out", str(tmp_path / "o"))
    assert r.code == 0, r.stderr
    bd = tmp_path / "o" / "fff1_8000"
    for row in manifest(bd):
        ins = inspect_file(str(bd / row["path"] / image), fmt=fmt)
        assert ins.ok, (row["serial"], ins.errors)
        if fmt == "nrfconnect":
            fd = ins.model
            assert (fd.sn, fd.discriminator, fd.passcode) == (row["serial"], int(row["discriminator"]), int(row["passcode"]))
            assert fd.rd_uid is None and (fd.product_finish, fd.primary_color, fd.sw_ver_str) == (2, 20, "2.1")
            assert fd.enable_key == bytes.fromhex("0f0e0d0c0b0a09080706050403020100")
        elif fmt == "telink":  # no finish, colour or software version in the Telink layout; the CD is stored
            fd = ins.model
            assert (fd.sn, fd.discriminator, fd.passcode) == (row["serial"], int(row["discriminator"]), int(row["passcode"]))
            assert (fd.rd_uid, fd.product_finish, fd.primary_color, fd.sw_ver_str) == (None, None, None, None)
            assert ins.doc["enable_key"] == "hex:" + b"0F0E0D0C0B0A09080706050403020100".hex()
            assert telink.read((bd / row["path"] / "factory_data.bin").read_bytes())["cert_dclrn"] == cd.read_bytes()
        else:  # each format's own names; these formats carry no enable key, software version or rd_uid here
            names = {"nxp": ("serial_number", "discriminator", "product_finish", "product_primary_color"),
                     "esp32": ("serial-num", "discriminator", "product-finish", "product-color")}[fmt]
            assert [ins.doc[n] for n in names] == [row["serial"], int(row["discriminator"]), 2, 20]
            assert not any("rd" in k and "uid" in k for k in ins.doc)
        with open(bd / row["path"] / "factory_data.json") as f:
            doc = json.load(f)
        assert doc["enable_key"] == "hex:0f0e0d0c0b0a09080706050403020100" and doc["sw_ver_str"] == "2.1"


@pytest.mark.parametrize("pattern,message", [
    ("../{n}", "would put a path separator into the serial numbers"),
    ("{n:/>8}", "would put a path separator into the serial numbers"),
    ("lot\\{n}", "would put a path separator into the serial numbers"),
    (".hidden-{n}", "'.hidden-1' cannot name a directory"),
])
def test_serial_patterns_that_would_escape_the_batch_directory_are_refused(tmp_path, pattern, message):
    r = run_script("batch", "--count", "3", *COMMON, "--serial_pattern", pattern, "--out", str(tmp_path / "o"))
    assert_clean_error(r, 2, "--serial_pattern", message)
    assert os.listdir(tmp_path) == []  # nothing written


def test_a_device_too_big_for_the_partition_stops_its_chunk_before_any_file(tmp_path):
    # 40 rows in one process: the first chunk is devices 1..10, and the third does not fit the partition
    rows = ["serial,user.note"] + [f"SN-{n},{'x' * 3000 if n == 3 else 'ok'}" for n in range(1, 41)]
    (tmp_path / "rows.csv").write_text("\n".join(rows) + "\n")
    r = run_script("batch", "--csv", str(tmp_path / "rows.csv"), *COMMON, "--jobs", "1", "--out", str(tmp_path / "o"))
    assert_clean_error(r, 2, "device SN-3", "the partition holds 4096")
    batch_dir = tmp_path / "o" / "fff1_8000"
    assert device_dirs(batch_dir) == [] and manifest(batch_dir) == []  # not even SN-1 and SN-2


def test_an_output_directory_that_cannot_be_made_is_one_line():
    r = run_script("batch", "--count", "2", *COMMON, "--out", "/proc/matter-factory-data/out")  # procfs: no mkdir
    assert_clean_error(r, 1, "error: --out: cannot create '/proc/matter-factory-data/out'")


def test_pai_and_vid_checks(tmp_path):
    r = run_script("batch", "--count", "2", *[a if a != "0x8000" else "0x8001" for a in COMMON], "--out", str(tmp_path))
    assert_clean_error(r, 2, "--product_id", "differs from the PAI product ID 0x8000")
    wrong_key = [*COMMON]
    wrong_key[wrong_key.index("--pai_key") + 1] = os.path.join(TEST, "Chip-Test-PAA-FFF1-Key.der")
    assert_clean_error(run_script("batch", "--count", "2", *wrong_key, "--out", str(tmp_path)), 2, "--pai_key",
                       "does not match")
    assert_clean_error(run_script("batch", *COMMON, "--out", str(tmp_path)), 2, "--count/--csv")
    assert_clean_error(run_script("batch", "--count", "5000", "--unique_discriminators", *COMMON, "--out", str(tmp_path)),
                       2, "at most 4096")


def test_discriminators_beyond_4096_are_spread_evenly():
    keyed = derive.Keyed(b"k" * 32)
    context = types.SimpleNamespace(fixed_discriminators=frozenset(), fixed_passcodes=frozenset(), count=10000)
    # a worker with just the values these functions read
    with engine.working(lambda ctx: types.SimpleNamespace(keyed=keyed, ctx=ctx), context):
        counts = {}
        for i in range(10000):
            d = batch.discriminator_of(i)
            counts[d] = counts.get(d, 0) + 1
        assert len(counts) == 4096 and set(counts.values()) == {2, 3}
        assert len({batch.passcode_of(i) for i in range(10000)}) == 10000


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(st.text(alphabet='ab 1-_./:=+,"\r\n', max_size=6), min_size=1, max_size=5),
                     min_size=1, max_size=4), end=st.sampled_from(["\n", "\r\n"]))
def test_csv_text_is_what_the_csv_module_writes(rows, end):
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator=end).writerows(rows)
    assert engine.csv_text(rows, end) == buf.getvalue()


def test_ctrl_c_stops_cleanly_and_the_same_command_finishes(tmp_path):
    """SIGINT to the whole process group (what Ctrl-C sends): one line, exit 130, no worker tracebacks; the
    finished devices are kept and the same command completes the batch."""
    args = ["--count", "400", *COMMON, "--jobs", "2", "--no_png", "--out", str(tmp_path / "o")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = SCRIPTS
    proc = subprocess.Popen([sys.executable, "-m", "matter_factory_data", "batch", *args], env=env,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    bd = tmp_path / "o" / "fff1_8000"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not (bd.exists() and device_dirs(bd)):
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["matter-factory-data batch: interrupted; the devices finished so far are kept: "
                                        "run the same command again to finish the batch"]
    r = run_script("batch", *args)
    assert r.code == 0, r.stderr
    rows = manifest(bd)
    assert len(rows) == 400 and device_dirs(bd) == sorted(r["serial"] for r in rows)


# ---------------------------------------------------------------- the engine (forked workers, ordered results)


def _double(chunk):
    time.sleep(0.002 * (chunk[0] % 3))  # uneven work: later chunks may finish first
    return [2 * x for x in chunk]


def _fail_at_7(chunk):
    if 7 in chunk:
        raise InvalidInput("device 7", "does not fit")
    return chunk


def _die_at_5(chunk):
    if 5 in chunk:
        os._exit(3)
    return chunk


@pytest.fixture(params=["fork", "stdlib"])
def pool(request, monkeypatch):
    """Each engine test runs on both worker pools: the fork/pipe pool and ProcessPoolExecutor."""
    if request.param == "stdlib":
        monkeypatch.setenv("MATTER_FACTORY_DATA_POOL", "stdlib")
    else:
        monkeypatch.delenv("MATTER_FACTORY_DATA_POOL", raising=False)
    assert engine.pool_kind() == request.param
    return request.param


@pytest.mark.parametrize("jobs,count", [(2, 2), (2, 3), (3, 10), (4, 3), (2, 41)])
def test_engine_hands_results_over_in_chunk_order(pool, jobs, count):
    seen, inits = [], []
    engine.run_ordered(inits.append, "ctx", _double, ([i] for i in range(count)), jobs, seen.append)
    assert seen == [[2 * i] for i in range(count)]
    assert inits == []  # init ran in the workers, not here


def test_engine_reraises_a_worker_error_with_its_field(pool):
    seen = []
    with pytest.raises(InvalidInput) as e:
        engine.run_ordered(lambda ctx: None, None, _fail_at_7, ([i] for i in range(20)), 2, seen.append)
    assert (e.value.field, e.value.rule) == ("device 7", "does not fit")
    assert seen == [[i] for i in range(7)]  # everything before the failing chunk was handed over


def test_engine_reports_a_dead_worker(pool):
    seen = []
    with pytest.raises(OperationFailed, match="a worker process died"):
        engine.run_ordered(lambda ctx: None, None, _die_at_5, ([i] for i in range(20)), 2, seen.append)
    # the chunks before the dead worker's are handed over in order (those still in flight when the pool
    # stopped may be lost: the same command makes them again); none after it
    assert seen == [[i] for i in range(len(seen))] and len(seen) <= 5


def _bad_init(ctx):
    raise InvalidInput("--pai_key", "cannot be used")


def test_engine_reraises_a_worker_set_up_error(pool):
    with pytest.raises(InvalidInput, match="--pai_key: cannot be used"):
        engine.run_ordered(_bad_init, None, _double, ([i] for i in range(20)), 3, [].append)


def _tagged(ctx):
    return ("worker of", ctx)


def _with_worker(chunk):
    return [engine.worker()] * len(chunk)


def test_engine_runs_in_process_with_one_job():
    seen, inits = [], []
    engine.run_ordered(inits.append, "ctx", _double, ([i] for i in range(5)), 1, seen.append)
    assert seen == [[2 * i] for i in range(5)] and inits == ["ctx"]
    assert engine.worker() is None  # this process is a worker only while it runs the chunks


@pytest.mark.parametrize("jobs", [1, 3])
def test_every_worker_keeps_what_its_set_up_returned(pool, jobs):
    seen = []
    engine.run_ordered(_tagged, "ctx", _with_worker, ([i] for i in range(12)), jobs, seen.extend)
    assert seen == [("worker of", "ctx")] * 12


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 5000), length=st.integers(0, 5000), jobs=st.integers(1, 64))
def test_chunks_cover_every_device_once_and_shrink_at_the_end(start, length, jobs):
    bounds = list(engine.chunk_bounds(start, start + length, jobs))
    assert [i for lo, hi in bounds for i in range(lo, hi)] == list(range(start, start + length))
    sizes = [hi - lo for lo, hi in bounds]
    assert all(1 <= n <= 16 for n in sizes) and sizes == sorted(sizes, reverse=True)
    assert not sizes or sizes[-1] == 1  # the last chunk is one device: no core waits long for another


@pytest.mark.parametrize("fmt, image, offset", [("ti", "factory_data.hex", 0xFE800), ("bouffalolab", "factory_data.bin", None)])
def test_ti_and_bouffalolab_batches_are_made_from_the_model(tmp_path, fmt, image, offset):
    """Devices of a batch in the TI table (at 0xFE800) and the Bouffalo Lab MFD (with the CD), each read back by
    inspect as the device reads it, with the manifest's values."""
    from matter_factory_data.formats import bouffalolab, ti

    cd = os.path.join(CREDS, "test-cd", "Test-CD-FFF1-8000.der")
    r = run_script("batch", "--count", "6", *COMMON, "--format", fmt, "--cd", cd, "--no_png", "--jobs", "2",
                   "--out", str(tmp_path / "o"))
    assert r.code == 0, r.stderr
    bd = tmp_path / "o" / "fff1_8000"
    rows = manifest(bd)
    for row in rows:
        ins = inspect_file(str(bd / row["path"] / image))
        assert ins.ok and ins.fmt == fmt, (row["serial"], ins.errors)
        fd = ins.model
        assert (fd.sn, fd.discriminator, fd.passcode) == (row["serial"], int(row["discriminator"]), int(row["passcode"]))
        assert fd.rd_uid.hex() == row["rd_uid"]
    assert len({row["passcode"] for row in rows}) == 6
    if fmt == "ti":
        assert ins.offset == offset
    else:
        assert bouffalolab.read((bd / rows[0]["path"] / image).read_bytes())["cd"] == open(cd, "rb").read()
    # the TI layout needs every value: without an rd_uid the batch stops before writing anything
    if fmt == "ti":
        r = run_script("batch", "--count", "2", *COMMON, "--format", "ti", "--no_rd_uid", "--out", str(tmp_path / "x"))
        assert_clean_error(r, 2, "device", "the TI layout stores all 17 values; missing: rd_uniqueid")
        assert not (tmp_path / "x").exists() and ti.REGION == 0x900
