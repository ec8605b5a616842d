"""End-to-end harness: a factory data set, as it would be flashed, commissioned by a real Matter stack.

The flashed image is decoded by our own ``inspect`` (so the bytes a device would read are what is tested),
the CD comes from the image (NXP, ESP32, Telink, Bouffalo Lab) or from ``CD.der`` beside it (the nRF Connect
and TI images do not carry one), and ``commission.mjs`` brings up a matter.js device provisioned only from those values — DAC,
DAC key, PAI, CD and the SPAKE2+ verifier/salt/iterations in place of a passcode — and commissions it
with the matter.js controller (strict attestation policy, offline trust store with our PAA and CD signer).
"""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(HERE, "node_modules", "@matter", "main")

# field names per image format: (verifier, salt, iterations, dac, dac_key, pai, cd, vendor_id, product_id,
# discriminator)
FIELDS = {
    "nrfconnect": ("spake2_verifier", "spake2_salt", "spake2_it", "dac_cert", "dac_key", "pai_cert", None,
                   "vendor_id", "product_id", "discriminator"),
    "nxp": ("verifier", "salt", "iteration_count", "dac_cert", "dac_key", "pai_cert", "cert_declaration",
            "vendor_id", "product_id", "discriminator"),
    "esp32": ("verifier", "salt", "iteration-count", "dac-cert", "dac-key", "pai-cert", "cert-dclrn",
              "vendor-id", "product-id", "discriminator"),
    "telink": ("spake2_verifier", "spake2_salt", "spake2_it", "dac_cert", "dac_key", "pai_cert", "cert_dclrn",
               "vendor_id", "product_id", "discriminator"),
    "ti": ("spake2_verifier", "spake2_salt", "spake2_it", "dac_cert", "dac_priv_key", "pai_cert", None,
           "vendor_id", "product_id", "discriminator"),
    "bouffalolab": ("spake2p_verifier", "spake2p_salt", "spake2p_it", "dac_cert", "dac_key", "pai_cert", "cd",
                    "vendor_id", "product_id", "discriminator"),
}


def missing() -> str | None:
    """Why the harness cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (tests/setup.sh installs it)"
    if not os.path.isdir(NODE_MODULES):
        return "tests/e2e/node_modules is missing: run `npm ci` in tests/e2e (tests/setup.sh does)"
    return None


def _bytes(value) -> bytes:
    """inspect prints binary fields as hex:…; the ESP32 NVS stores salt and verifier as base64 text."""
    if isinstance(value, str) and value.startswith("hex:"):
        return bytes.fromhex(value[4:])
    if isinstance(value, str):
        return base64.b64decode(value, validate=True)
    raise ValueError(f"not a binary field: {value!r}")


def decode(image: str) -> tuple[str, dict]:
    """The image's format and fields, through our CLI, exactly as ``inspect`` reads the flashed bytes."""
    r = subprocess.run([sys.executable, "-m", "matter_factory_data", "inspect", image, "--json", "--show_secrets"],
                       capture_output=True, text=True)
    report = json.loads(r.stdout)
    if r.returncode != 0 or not report.get("ok"):
        raise AssertionError(f"inspect rejects {image}: {r.stdout[-2000:]} {r.stderr[-500:]}")
    return report["format"], report["data"]


def device_values(image: str, cd_path: str | None = None) -> dict:
    """What the device would read at boot, as raw values (bytes / ints)."""
    fmt, data = decode(image)
    names = dict(zip(("verifier", "salt", "iterations", "dac", "dac_key", "pai", "cd", "vendor_id", "product_id",
                      "discriminator"), FIELDS[fmt]))
    values = {}
    for key, name in names.items():
        if name is None:
            continue
        raw = data[name]
        values[key] = int(raw) if key in ("iterations", "vendor_id", "product_id", "discriminator") else _bytes(raw)
    if "cd" not in values:
        if cd_path is None:
            raise AssertionError(f"{image}: the {fmt} image carries no CD and none was given")
        with open(cd_path, "rb") as f:
            values["cd"] = f.read()
    values["format"] = fmt
    return values


def onboarding_passcode(txt_path) -> int | None:
    """The passcode a user would enter: parsed from the QR code line of our onboarding output."""
    from matter_factory_data.codes import onboarding

    with open(txt_path) as f:
        for line in f:
            if line.startswith("QRCode"):
                return onboarding.parse_qr(line.split(":", 1)[1].strip()).passcode
    return None


def free_port() -> int:
    """A UDP port pair (port, port + 1) free on this host for the device and the controller."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s2:
                    s2.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no free UDP port pair")


def commission_matterjs(values: dict, *, passcode: int, paa: bytes, cd_signer: bytes | None, workdir: str,
                        device_vendor_id: int | None = None, device_product_id: int | None = None,
                        timeout: float = 90) -> dict:
    """Bring up the matter.js device from ``values`` and commission it; the result line of commission.mjs.

    The device is given a passcode other than ``passcode`` so PASE succeeds only through the factory
    verifier; ``device_vendor_id``/``device_product_id`` override the device's basic information (the
    VID/PID mismatch case)."""
    os.makedirs(workdir, exist_ok=True)
    device_passcode = 20202021 if passcode != 20202021 else 20212022
    case = {
        "dac": values["dac"].hex(), "pai": values["pai"].hex(), "dac_key": values["dac_key"].hex(),
        "cd": values["cd"].hex(), "paa": paa.hex(), "cd_signer": cd_signer.hex() if cd_signer else None,
        "verifier": values["verifier"].hex(), "salt": values["salt"].hex(), "iterations": values["iterations"],
        "vendor_id": values["vendor_id"] if device_vendor_id is None else device_vendor_id,
        "product_id": values["product_id"] if device_product_id is None else device_product_id,
        "discriminator": values["discriminator"], "passcode": passcode, "device_passcode": device_passcode,
        "port": free_port(), "storage": os.path.join(workdir, "storage"),
    }
    case_path = os.path.join(workdir, "case.json")
    fd = os.open(case_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(case, f)
    r = subprocess.run(["node", os.path.join(HERE, "commission.mjs"), case_path], capture_output=True, text=True,
                       timeout=timeout, cwd=HERE)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise AssertionError(f"commission.mjs printed no result (exit {r.returncode}): {r.stdout[-2000:]} "
                             f"{r.stderr[-2000:]}")
    return json.loads(lines[-1])


# ---------------------------------------------------------------- commissioner B: the Matter SDK controller


def chip_missing() -> str | None:
    """Why commissioner B cannot run here, or None."""
    reason = missing()
    if reason:
        return reason
    if os.geteuid() != 0:
        return "commissioner B needs root for its private network namespace (ip netns)"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed (tests/setup.sh installs it)"
    try:
        import chip.ChipDeviceCtrl  # noqa: F401
        import chip.clusters  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means the wheel is unusable here
        return f"home-assistant-chip-core/-clusters unusable: {e}"
    # the chip wheel keeps its counters in /data/chip_counters.ini
    os.makedirs("/data", exist_ok=True)
    if not os.access("/data", os.W_OK):
        return "/data is not writable (the chip wheel keeps its counters there)"
    return None


class NetNamespace:
    """A private network namespace with lo and a veth pair, so multicast DNS works offline."""

    def __init__(self, name: str):
        self.name = name

    def _ip(self, *args):
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def __enter__(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        self._ip("netns", "add", self.name)
        try:
            ns = ["-n", self.name]
            self._ip(*ns, "link", "add", "mfd0", "type", "veth", "peer", "name", "mfd1")
            for sysctl in ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"):
                subprocess.run(["ip", "netns", "exec", self.name, "sysctl", "-qw", sysctl], capture_output=True)
            self._ip(*ns, "addr", "add", "10.77.0.1/24", "dev", "mfd0")
            self._ip(*ns, "addr", "add", "10.77.0.2/24", "dev", "mfd1")
            for dev in ("lo", "mfd0", "mfd1"):
                self._ip(*ns, "link", "set", dev, "up")
        except Exception:
            self.__exit__()
            raise
        return self

    def exec(self, argv):
        return ["ip", "netns", "exec", self.name, *argv]

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def commission_chip(values: dict, *, passcode: int, paa: bytes, workdir: str, cd_signer: bytes | None = None,
                    device_vendor_id: int | None = None, device_product_id: int | None = None,
                    timeout: float = 120) -> dict:
    """Bring up the matter.js device from ``values`` in a private network namespace and commission it with
    the Matter SDK's controller trusting only ``paa``. Returns the controller's result with the device's
    report under "device". ``cd_signer`` is ignored: this controller trusts only the CD signing keys built
    into the SDK (the public test key among them), so CDs for it are signed with the test key."""
    os.makedirs(workdir, exist_ok=True)
    paa_dir = os.path.join(workdir, "paa")
    os.makedirs(paa_dir, exist_ok=True)
    with open(os.path.join(paa_dir, "paa.der"), "wb") as f:
        f.write(paa)
    case = {
        "mode": "device",
        "dac": values["dac"].hex(), "pai": values["pai"].hex(), "dac_key": values["dac_key"].hex(),
        "cd": values["cd"].hex(), "paa": paa.hex(), "cd_signer": None,
        "verifier": values["verifier"].hex(), "salt": values["salt"].hex(), "iterations": values["iterations"],
        "vendor_id": values["vendor_id"] if device_vendor_id is None else device_vendor_id,
        "product_id": values["product_id"] if device_product_id is None else device_product_id,
        "discriminator": values["discriminator"], "passcode": passcode,
        "device_passcode": 20202021 if passcode != 20202021 else 20212022,
        "port": 5540, "storage": os.path.join(workdir, "device-storage"),
    }
    case_path = os.path.join(workdir, "case.json")
    fd = os.open(case_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(case, f)
    chip_storage = os.path.join(workdir, "chip-storage")
    os.makedirs(chip_storage, exist_ok=True)
    env = dict(os.environ, MATTER_MDNS_NETWORKINTERFACE="mfd0")
    with NetNamespace(f"mfd{os.getpid() % 100000}") as ns:
        device = subprocess.Popen(ns.exec(["node", os.path.join(HERE, "commission.mjs"), case_path]), cwd=HERE,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        try:
            ready = device.stdout.readline()
            if '"ready"' not in ready:
                device.kill()
                raise AssertionError(f"device did not start: {ready} {device.stderr.read()[-2000:]}")
            r = subprocess.run(ns.exec([sys.executable, os.path.join(HERE, "chip_commission.py"), chip_storage, paa_dir,
                                        str(passcode)]), capture_output=True, text=True, timeout=timeout)
            lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
            if not lines:
                raise AssertionError(f"chip_commission.py printed no result (exit {r.returncode}): "
                                     f"{r.stdout[-2000:]} {r.stderr[-3000:]}")
            result = json.loads(lines[-1])
            log = r.stdout + r.stderr
            result["log"] = log
            # where the SDK's controller stopped, from its C++ log
            m = re.search(r"Failed in verifying 'Attestation Information' command received from the device: "
                          r"(err \d+ \([^)]*\))", log)
            result["attestation_error"] = m.group(1) if m else None
            m = re.search(r"Error on commissioning step '(\w+)'", log)
            result["failed_step"] = m.group(1) if m else None
            result["pase_failed"] = "Failed to verify peer's MAC" in log
        finally:
            out, _err = device.communicate(timeout=30)
        reports = [json.loads(line) for line in out.splitlines() if line.startswith("{") and "ready" not in line]
        result["device"] = reports[-1] if reports else {}
    return result


# ---------------------------------------------------------------- command line: any factory data set


def main(argv=None) -> int:
    """Commission a given factory data set: `python tests/e2e/harness.py IMAGE --paa PAA.der ...`."""
    import argparse
    import tempfile

    p = argparse.ArgumentParser(
        prog="tests/e2e/harness.py",
        description="Commission a matter.js device provisioned from one flashed factory data image (nRF Connect "
                    ".hex/.bin, NXP .bin, ESP32 NVS .bin) with the matter.js controller and/or the Matter SDK's "
                    "controller. Exit 0 only when every chosen commissioner commissions it.",
        epilog="example: python tests/e2e/harness.py out/factory_data.hex --cd out/CD.der --paa out/PAA_cert.der "
               "--cd_signer out/CD_signing_cert.der --onboarding out/factory_data.txt --commissioner matterjs")
    p.add_argument("image", help="the image as it would be flashed")
    p.add_argument("--cd", help="CD.der (needed for nRF Connect images, which do not carry the CD)")
    p.add_argument("--paa", required=True, help="the PAA certificate (DER) the commissioners trust")
    p.add_argument("--cd_signer", help="CD signing certificate (DER) the matter.js controller trusts")
    code = p.add_mutually_exclusive_group(required=True)
    code.add_argument("--passcode", type=int, help="the setup passcode to commission with")
    code.add_argument("--onboarding", help="an onboarding .txt with the QR code (the passcode is taken from it)")
    p.add_argument("--commissioner", choices=["matterjs", "chip", "both"], default="both")
    args = p.parse_args(argv)
    for name, reason in (("matterjs", missing()), ("chip", chip_missing() if args.commissioner != "matterjs" else None)):
        if reason and args.commissioner in (name, "both"):
            print(f"harness: cannot run {name}: {reason}", file=sys.stderr)
            return 2
    passcode = args.passcode if args.passcode is not None else onboarding_passcode(args.onboarding)
    if passcode is None:
        print(f"harness: {args.onboarding}: no QRCode line", file=sys.stderr)
        return 2
    values = device_values(args.image, args.cd)
    with open(args.paa, "rb") as f:
        paa = f.read()
    cd_signer = None
    if args.cd_signer:
        with open(args.cd_signer, "rb") as f:
            cd_signer = f.read()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        if args.commissioner in ("matterjs", "both"):
            r = commission_matterjs(values, passcode=passcode, paa=paa, cd_signer=cd_signer,
                                    workdir=os.path.join(tmp, "matterjs"))
            print("matterjs:", json.dumps(r))
            ok &= bool(r["ok"]) and r.get("paseVerifierUsed") == 1
        if args.commissioner in ("chip", "both"):
            r = commission_chip(values, passcode=passcode, paa=paa, workdir=os.path.join(tmp, "chip"))
            log = r.pop("log")
            print("chip:", json.dumps(r))
            if not r["ok"]:
                print(log[-4000:], file=sys.stderr)
            ok &= bool(r["ok"]) and r["device"].get("paseVerifierUsed") == 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
