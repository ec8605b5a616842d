#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine (run as root from the repository root):
# Debian packages, a virtual environment in .venv, and the project with its test extra, the ESP32 reference
# tool, and the matter.js device stack of the end-to-end tests (tests/e2e, from its lockfile).
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt_packages=(python3 python3-venv libnl-3-200 libnl-route-3-200 iproute2 procps openssl cmake ninja-build make generate-ninja
              softhsm2 opensc)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Matter SDK's Python wheel keeps its key-value store under /data.
mkdir -p /data

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

# esp-matter-mfg-tool, the ESP32 reference, in a venv of its own: it pins old cryptography/click and
# installs top-level packages (sources, deps, tests) that would clash with ours.
[ -x .venv-esp/bin/esp-matter-mfg-tool ] || {
    python3 -m venv .venv-esp
    .venv-esp/bin/python -m pip install -q esp-matter-mfg-tool
}

# The end-to-end tests run a matter.js device and controller: Node.js >= 20.19 and the locked packages.
if ! command -v node >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
node -e 'const [a, b] = process.versions.node.split(".").map(Number);
         if (a < 20 || (a === 20 && b < 19)) { console.error(`tests/setup.sh: Node.js ${process.version} is too old for matter.js 0.17.9 (needs >= 20.19)`); process.exit(1); }'
npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
