"""Conformance against the Matter SDK's own C++ setup-payload parser (PyPI home-assistant-chip-core).

Marked ``sdk``; runs in CI (the setup installs the wheel, Debian's libnl-route-3-200 and a writable /data).
"""

import json
import os
import random
import subprocess
import sys

import pytest

from matter_factory_data.codes import onboarding as ob
from matter_factory_data.crypto import spake2p

pytestmark = pytest.mark.sdk
HELPER = os.path.join(os.path.dirname(__file__), "sdk", "chip_parse.py")


def sdk_parse(items):
    try:
        import chip  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"home-assistant-chip-core not installed: {e}")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        result = os.path.join(d, "parsed.jsonl")
        p = subprocess.run([sys.executable, HELPER, result], input="\n".join(json.dumps(i) for i in items) + "\n",
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        with open(result) as f:
            lines = [json.loads(x) for x in f if x.strip()]
    assert len(lines) == len(items)
    return lines


def random_payloads(n, seed=1234):
    rnd = random.Random(seed)
    out = []
    while len(out) < n:
        passcode = rnd.randint(1, spake2p.MAX_PASSCODE)
        if not spake2p.is_valid_passcode(passcode):
            continue
        vid = rnd.choice([0, rnd.randint(1, 0xFFF4), 0xFFF1, 0xFFF4])
        pid = rnd.randint(0 if vid == 0 else 1, 0xFFFF)
        out.append(ob.SetupPayload(vid, pid, rnd.randint(0, 4095), passcode, flow=rnd.randint(0, 2),
                                   rendezvous=rnd.randint(1, 7)))
    return out


def test_generated_codes_parse_to_the_same_fields():
    payloads = random_payloads(400) + [ob.SetupPayload(0xFFF1, 0x8000, 0, 1), ob.SetupPayload(0xFFF4, 0xFFFF, 4095, 99999998, 2, 7)]
    items = [{"qr": ob.qr_code(p), "manual": ob.manual_code(p)} for p in payloads]
    parsed = sdk_parse(items)
    for p, item, res in zip(payloads, items, parsed):
        q = res["qr"]
        assert "error" not in q, (item, q)
        assert int(q["VendorID"]) == p.vendor_id and int(q["ProductID"]) == p.product_id, item
        assert int(q["CommissioningFlow"]) == p.flow and int(q["RendezvousInformation"]) == p.rendezvous, item
        assert int(q["Long discriminator"]) == p.discriminator and int(q["SetUpPINCode"]) == p.passcode, item
        m = res["manual"]
        assert "error" not in m, (item, m)
        assert int(m["SetUpPINCode"]) == p.passcode and int(m["Short discriminator"]) == p.discriminator >> 8
        if p.flow != 0:
            assert int(m["VendorID"]) == p.vendor_id and int(m["ProductID"]) == p.product_id
        # and our parser agrees with the SDK's
        ours = ob.parse_qr(item["qr"])
        assert (ours.vendor_id, ours.product_id, ours.discriminator, ours.passcode) == (
            p.vendor_id, p.product_id, p.discriminator, p.passcode)


def test_sdk_rejects_what_we_reject():
    bad = ["34970112333", "02684354589", "MT:Y.K9042C00KA0648G0", "MT:Y.K9042C00KA0648G0!"]
    parsed = sdk_parse([{"manual": c} if not c.startswith("MT:") else {"qr": c} for c in bad])
    for code, res in zip(bad, parsed):
        (only,) = res.values()
        assert "error" in only, (code, only)
        with pytest.raises(ob.InvalidInput):
            ob.parse_any(code)


def test_reference_vectors_parse_in_the_sdk():
    items = [{"qr": "MT:KAYA3EYF15ND8B1OA00", "manual": "35442608082"},
             {"qr": "MT:-24J0AFN00KA064IJ3P0WISA0DK5N1K8SQ1RYCU1O0"}]
    a, b = sdk_parse(items)
    assert a["qr"]["VendorID"] == str(0x127F) and a["qr"]["SetUpPINCode"] == "13243546"
    assert a["manual"]["Short discriminator"] == str(0xFED >> 8)
    assert b["qr"]["Long discriminator"] == "3840"
