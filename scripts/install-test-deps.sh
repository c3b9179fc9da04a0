#!/usr/bin/env bash
# Install what the tests need beyond the Python lock: Debian's chromium for Playwright.
# Playwright cannot download browsers here; it drives /usr/bin/chromium.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "test-deps: installing Debian's chromium"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  else
    echo "test-deps: /usr/bin/chromium is missing and apt-get is not permitted; install the 'chromium' package" >&2
    exit 1
  fi
fi
echo "test-deps: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}')"
