#!/usr/bin/env bash
# Everything `make` needs, idempotent: Debian packages (CHOLMOD + OpenBLAS), then .venv with fastmme
# installed in editable mode with its test and docs extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in libsuitesparse-dev libopenblas-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,docs]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import fastmme, sksparse.cholmod" 
echo "setup: done"
