"""Helpers for the build-system integration tests (CMake, gn, west, Kconfig)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
DEV = os.path.join(FIXTURES, "matter-credentials", "development-attestation")


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            raise AssertionError(f"{tool} is not installed (tests/setup.sh installs it)")
        pytest.skip(f"{tool} not installed")
    return path


def run(cmd: list[str], cwd: str | None = None, env: dict | None = None, check: bool = True):
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    full_env.pop("CHIP_ROOT", None)
    full_env.update(env or {})
    p = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def dotconfig(path, **values) -> str:
    """A Zephyr-style .config with the user certificate source (deterministic builds) plus ``values``."""
    base = {
        "CONFIG_MATTER_FACTORY_DATA": "y",
        "CONFIG_CHIP_DEVICE_SERIAL_NUMBER": '"SN 0001"',
        "CONFIG_CHIP_DEVICE_PRODUCT_ID": "32768",
        "CONFIG_MATTER_FACTORY_DATA_CERT_SOURCE_USER": "y",
        "CONFIG_MATTER_FACTORY_DATA_USER_CERTS_DAC_CERT": f'"{DEV}/Matter-Development-DAC-FFF1-8000-Cert.der"',
        "CONFIG_MATTER_FACTORY_DATA_USER_CERTS_DAC_KEY": f'"{DEV}/Matter-Development-DAC-FFF1-8000-Key.der"',
        "CONFIG_MATTER_FACTORY_DATA_USER_CERTS_PAI_CERT": f'"{DEV}/Matter-Development-PAI-FFF1-noPID-Cert.der"',
    }
    base.update(values)
    lines = ["#", "# Automatically generated file; DO NOT EDIT.", "#"]
    for k, v in base.items():
        lines.append(f"# {k} is not set" if v == "n" else f"{k}={v}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


def tool(*args: str, cwd: str | None = None):
    return run([sys.executable, "-m", "matter_factory_data", *args], cwd=cwd,
               env={"PYTHONPATH": os.path.join(ROOT, "scripts")}, check=False)
