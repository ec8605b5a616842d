"""END-TO-END (real Matter stack, commissioner B): the Matter SDK's own C++ controller
(home-assistant-chip-core 2025.7.0) commissions a matter.js device provisioned from our factory data,
inside a private network namespace (veth pair, so its operational mDNS works offline). Its PAA trust
store holds only our PAA; it trusts only the SDK's built-in CD signing keys, so the CD is made by our
`cd generate` with the public test CD signing key, passed explicitly. Runs in CI (as root).

Unlike matter.js it enforces the X.509 certificate profile: a DAC with CA:TRUE is refused here.
"""

import os
import random

import pytest

from . import harness
from .sets import IMAGE, cli, corrupt, onboarding_passcode, read, run_batch

pytestmark = [pytest.mark.e2e, pytest.mark.sdk,
              pytest.mark.skipif(harness.chip_missing() is not None, reason=str(harness.chip_missing()))]

TEST_CD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                       "matter-credentials", "test-cd")
CD_CERT = os.path.join(TEST_CD, "Chip-Test-CD-Signing-Cert.pem")
CD_KEY = os.path.join(TEST_CD, "Chip-Test-CD-Signing-Key.pem")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Fresh test credentials and a single-device nRF Connect set, plus a CD for the same VID/PID signed
    with the SDK's test CD key (CD_test.der)."""
    out = tmp_path_factory.mktemp("e2e-chip") / "demo"
    cli("demo", "--out", str(out))
    cli("cd", "generate", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--device_type", "0x0100",
        "--certificate_id", "ZIG20142ZB330003-24", "--certification_type", "0",
        "--cd_signing_cert", CD_CERT, "--cd_signing_key", CD_KEY, "--out", str(out / "CD_test.der"))
    return out


def assert_commissioned(result, values):
    assert result["ok"], {k: v for k, v in result.items() if k != "log"} | {"log": result["log"][-3000:]}
    assert result["vendorId"] == values["vendor_id"] and result["productId"] == values["product_id"]
    device = result["device"]
    assert device["commissioned"] is True and device["onOff"] is True
    assert device["paseVerifierUsed"] == 1  # PASE answered from the factory verifier, not the device's passcode


def test_single_device_partition_commissions(demo, tmp_path):
    values = harness.device_values(str(demo / "factory_data.hex"), str(demo / "CD_test.der"))
    result = harness.commission_chip(values, passcode=onboarding_passcode(demo / "factory_data.txt"),
                                     paa=read(demo / "PAA_cert.der"), workdir=str(tmp_path))
    assert_commissioned(result, values)


@pytest.mark.parametrize("fmt,count,picked", [("nrfconnect", 10, 3), ("nxp", 2, 1), ("esp32", 2, 1)])
def test_batch_devices_commission(demo, tmp_path, fmt, count, picked):
    batch_dir, rows = run_batch(demo, tmp_path / "batch", fmt, count, cd=demo / "CD_test.der")
    for row in random.sample(rows, picked):
        values = harness.device_values(str(batch_dir / row["path"] / IMAGE[fmt]), str(batch_dir / "CD.der"))
        result = harness.commission_chip(values, passcode=int(row["passcode"]), paa=read(demo / "PAA_cert.der"),
                                         workdir=str(tmp_path / row["serial"]))
        assert_commissioned(result, values)


# corrupted set -> (failed commissioning step, the controller's attestation verdict); PASE failures have
# no step: the session never exists.
ATTESTATION = "AttestationVerification"
DEVICE = "SendPAICertificateRequest"  # the device answers FAILURE: its DAC is not for its VID/PID
NEGATIVE = {
    "verifier_for_other_passcode": (None, None),
    "salt_not_the_verifiers": (None, None),
    "iterations_not_the_verifiers": (None, None),
    "dac_key_not_the_dacs": (ATTESTATION, "err 500 "),
    "untrusted_paa": (ATTESTATION, "err 101 "),
    "pai_not_signed_by_paa": (ATTESTATION, "err 301 "),
    "dac_not_signed_by_pai": (ATTESTATION, "err 301 "),
    "device_pid_not_the_dacs": (DEVICE, None),
    "device_vid_not_the_dacs": (DEVICE, None),
    "cd_lacks_the_pid": (ATTESTATION, "err 605 "),
    "cd_vendor_id_wrong": (ATTESTATION, "err 604 "),
    "cd_signature_broken": (ATTESTATION, "err 602 "),
    "cd_signer_unknown": (ATTESTATION, "err 601 "),
    "dac_violates_profile": (ATTESTATION, "err 303 "),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NEGATIVE))
def test_corrupted_set_is_rejected(demo, tmp_path, name):
    values = harness.device_values(str(demo / "factory_data.hex"), str(demo / "CD_test.der"))
    bad, kw = corrupt(name, values, demo, CD_CERT, CD_KEY)
    args = dict(passcode=onboarding_passcode(demo / "factory_data.txt"), paa=read(demo / "PAA_cert.der"),
                workdir=str(tmp_path))
    args.update(kw)
    result = harness.commission_chip(bad, **args)
    step, verdict = NEGATIVE[name]
    summary = {k: v for k, v in result.items() if k != "log"}
    assert not result["ok"] and result["stage"] == "commission", summary
    assert result["device"]["commissioned"] is False, summary
    if step is None:
        assert result["pase_failed"] and result["failed_step"] is None, summary
    else:
        assert not result["pase_failed"] and result["failed_step"] == step, summary
    if verdict is None:
        assert result["attestation_error"] is None, summary
    else:
        assert result["attestation_error"] and result["attestation_error"].startswith(verdict), summary
