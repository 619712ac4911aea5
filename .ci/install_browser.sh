#!/usr/bin/env bash
# Headless Chromium + its driver (map tests), a CJK font (Chinese labels in the PNG figures
# and the map screenshots), LibreOffice Calc without a GUI and poppler-utils (the ledger is
# printed to PDF and its pages read back: tests/test_ledger_print.py), from Debian; selenium
# from PyPI. Idempotent: does nothing when all
# is installed already. Run as root (CI does) or with sudo available.
set -euo pipefail

packages=(chromium chromium-driver fonts-noto-cjk libreoffice-calc-nogui python3-uno poppler-utils)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install_browser: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "install_browser: ${packages[*]} already installed"
fi

for f in /usr/bin/chromium /usr/bin/chromedriver /usr/bin/soffice /usr/bin/pdftotext /usr/bin/pdfinfo; do
  if [ ! -x "$f" ]; then
    echo "install_browser: $f is missing after the install" >&2
    exit 1
  fi
done

PY="${PYTHON:-python}"
if ! "$PY" -c "import selenium" 2>/dev/null; then
  "$PY" -m pip install --quiet "selenium>=4.20"
fi
if ! "$PY" -c "import xstatic.pkg.leaflet_markercluster" 2>/dev/null; then
  "$PY" -m pip install --quiet "xstatic-leaflet-markercluster>=1.4"
fi
/usr/bin/chromium --version 2>/dev/null || true
