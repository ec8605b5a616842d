#!/usr/bin/env python3
"""Benchmark: one full single-device run from a fresh process (JSON + SPAKE2+ verifier + HEX/BIN + onboarding
.txt/.png), with the nRF Connect reference test's inputs.  Prints wall times and ratios; asserts nothing.

    python tests/bench/bench_single.py [--runs 30] [--reference "python3 /path/to/generate_nrfconnect_chip_factory_data.py"]

``--reference`` runs the nRF Connect SDK generator (with its own dependencies installed) on the same
arguments for a side-by-side ratio; without it the ratio is against the reference's published time on the
2-core development machines (about 240 ms).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures", "nrfconnect-reference")
REFERENCE_MS = 240.0
# A cold bytecode cache would measure the compiler, not the tool: let every run use and keep .pyc files.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def job_args(out: str) -> list[str]:
    return [
        "--sn", "SN:12345678", "--vendor_id", "0x127F", "--product_id", "0xABCD",
        "--vendor_name", "Nordic Semiconductor ASA", "--product_name", "Lock Gen2", "--date", "2022-07-20",
        "--hw_ver", "101", "--hw_ver_str", "v1.1",
        "--dac_key", os.path.join(FIX, "DAC_key.der"), "--dac_cert", os.path.join(FIX, "DAC_cert.der"),
        "--pai_cert", os.path.join(FIX, "PAI_cert.der"),
        "--spake2_it", "1000", "--spake2_salt", "U1BBS0UyUCBLZXkgU2FsdA==", "--passcode", "20202021",
        "--discriminator", "0xF00", "--include_passcode", "--overwrite", "--generate_onboarding",
        "-s", os.path.join(ROOT, "scripts", "matter_factory_data", "data", "nrfconnect_factory_data.schema"),
        "--offset", "0xfb000", "--size", "0x1000", "-o", out,
    ]


def time_runs(cmd_prefix: list[str], runs: int, workdir: str) -> list[float]:
    times = []
    for i in range(runs):
        out = os.path.join(workdir, f"fd{i % 2}.json")
        t = time.perf_counter()
        p = subprocess.run(cmd_prefix + job_args(out), capture_output=True, text=True, env=ENV)
        times.append((time.perf_counter() - t) * 1000)
        if p.returncode != 0:
            sys.exit(f"command failed: {' '.join(cmd_prefix)}\n{p.stderr}")
    return times


def summary(name: str, times: list[float]) -> float:
    med = statistics.median(times)
    print(f"{name:<34} median {med:7.1f} ms   min {min(times):7.1f} ms   max {max(times):7.1f} ms   ({len(times)} runs)")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--reference", help="command line of the reference generator")
    args = ap.parse_args()
    ours = [sys.executable, os.path.join(ROOT, "scripts", "generate_factory_data.py")]
    with tempfile.TemporaryDirectory() as d:
        time_runs(ours, 2, d)  # warm the bytecode cache
        startup = summary("python -c pass (interpreter floor)",
                          [_time([sys.executable, "-c", "pass"]) for _ in range(args.runs)])
        med = summary("matter-factory-data json", time_runs(ours, args.runs, d))
        ref = None
        if args.reference:
            ref = summary("reference generator", time_runs(shlex.split(args.reference), args.runs, d))
    work = _in_process_floor()
    print(f"{'crypto work in-process':<34} {work:7.1f} ms  (PBKDF2 1000 it + w1*G + DAC key load)")
    base = ref if ref is not None else REFERENCE_MS
    label = "measured reference" if ref is not None else f"reference's {REFERENCE_MS:.0f} ms"
    print(f"ratio ours / {label}: {med / base:.2f}  (target <= 0.40)")
    print(f"ours above the interpreter floor: {med - startup:.1f} ms")


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=ENV)
    return (time.perf_counter() - t) * 1000


def _in_process_floor() -> float:
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from matter_factory_data.crypto import spake2p
    from matter_factory_data.crypto.keys import load_p256_key, raw_private_scalar

    spake2p.generate_verifier(20202021, b"SPAKE2P Key Salt", 1000)
    t = time.perf_counter()
    for _ in range(20):
        spake2p.generate_verifier(20202021, b"SPAKE2P Key Salt", 1000)
        raw_private_scalar(load_p256_key(os.path.join(FIX, "DAC_key.der"), "dac"))
    return (time.perf_counter() - t) * 1000 / 20


if __name__ == "__main__":
    main()
