#!/usr/bin/env python3
"""Benchmark: a batch with the PAI key in a PKCS#11 token (SoftHSM2) against the same batch with the key in a
file, side by side.

Makes a throwaway SoftHSM2 token (SOFTHSM2_CONF in a temporary directory), imports the test PAI key into it,
then runs `matter-factory-data batch --count N --no_png` with `--pai_key pkcs11:…` and with the key file, in
alternating rounds (the machine's speed drifts), and prints every round's times, the best of each, and the
HSM/file ratio (goal: at most 1.5). Also prints the token's raw signing time per signature (one session,
CKM_ECDSA over a SHA-256 digest) against OpenSSL's in-memory ECDSA. Asserts nothing.

    python tests/bench/bench_hsm.py [--count 1000] [--jobs 2] [--repeat 5] [--workdir /dev/shm/bh]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ATT = os.path.join(ROOT, "tests", "fixtures", "matter-credentials", "test-attestation")
MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def make_token(root: str) -> tuple[dict, str]:
    """A token with the test PAI key; returns the environment and the key's URI."""
    from cryptography.hazmat.primitives import serialization

    os.makedirs(os.path.join(root, "tokens"))
    conf = os.path.join(root, "softhsm2.conf")
    with open(conf, "w") as f:
        f.write(f"directories.tokendir = {root}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": conf, "PKCS11_MODULE_PATH": MODULE}
    label, pin = "bench-" + secrets.token_hex(3), secrets.token_hex(6)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin",
                    secrets.token_hex(6)], env=env, check=True, capture_output=True)
    key = serialization.load_der_private_key(open(os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Key.der"), "rb").read(),
                                             None)
    p8 = os.path.join(root, "pai.p8")
    with open(p8, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    subprocess.run(["softhsm2-util", "--import", p8, "--token", label, "--label", "pai", "--id", "01", "--pin", pin],
                   env=env, check=True, capture_output=True)
    os.remove(p8)
    return env, f"pkcs11:token={label};object=pai?pin-value={pin}"


def batch(env: dict, key: str, out: str, count: int, jobs: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    os.sync()
    cmd = [sys.executable, "-m", "matter_factory_data", "batch", "--count", str(count), "--vendor_id", "0xFFF1",
           "--product_id", "0x8000", "--vendor_name", "Bench", "--product_name", "Lamp", "--date", "2026-12-07",
           "--pai_cert", os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.der"), "--pai_key", key, "--out", out,
           "--no_png", "--jobs", str(jobs), "--quiet"]
    start = time.perf_counter()
    subprocess.run(cmd, env={**env, "PYTHONPATH": os.path.join(ROOT, "scripts")}, check=True)
    return time.perf_counter() - start


def raw_signing(env: dict, uri: str, n: int = 2000) -> tuple[float, float]:
    """(token, OpenSSL) microseconds per ECDSA P-256 signature, in this process."""
    os.environ.update({k: env[k] for k in ("SOFTHSM2_CONF", "PKCS11_MODULE_PATH")})
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from matter_factory_data.crypto import hsm

    token_key = hsm.open_key(uri)
    file_key = ec.generate_private_key(ec.SECP256R1())
    algorithm = ec.ECDSA(hashes.SHA256())
    out = []
    for key in (token_key, file_key):
        start = time.perf_counter()
        for _ in range(n):
            key.sign(b"tbs certificate bytes", algorithm)
        out.append((time.perf_counter() - start) / n * 1e6)
    hsm.release()
    return out[0], out[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--workdir", help="where the batches go (default: a temporary directory)")
    args = p.parse_args()
    if not shutil.which("softhsm2-util") or not os.path.exists(MODULE):
        print("SoftHSM2 is not installed (apt-get install softhsm2; tests/setup.sh does)")
        return 1
    work = args.workdir or tempfile.mkdtemp(prefix="mfd-bench-hsm-")
    os.makedirs(work, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mfd-bench-token-") as root:
        env, uri = make_token(root)
        token_us, openssl_us = raw_signing(env, uri)
        print(f"one ECDSA P-256 signature: {token_us:.1f} us in SoftHSM2 (PKCS#11, one session), "
              f"{openssl_us:.1f} us with OpenSSL in memory ({token_us / openssl_us:.1f}x)")
        key_file = os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Key.der")
        hsm_times, file_times = [], []
        for r in range(args.repeat):
            hsm_times.append(batch(env, uri, os.path.join(work, "hsm"), args.count, args.jobs))
            file_times.append(batch(env, key_file, os.path.join(work, "file"), args.count, args.jobs))
            print(f"round {r + 1}: key in the token {hsm_times[-1]:.3f} s, key in a file {file_times[-1]:.3f} s "
                  f"(ratio {hsm_times[-1] / file_times[-1]:.2f})")
        best_h, best_f = min(hsm_times), min(file_times)
        print(f"{args.count} devices, {args.jobs} jobs, --no_png: best key in the token {best_h:.3f} s "
              f"({args.count / best_h:.0f} devices/s), best key in a file {best_f:.3f} s ({args.count / best_f:.0f} "
              f"devices/s)")
        print(f"HSM / file = {best_h / best_f:.2f} (goal: at most 1.5)")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
