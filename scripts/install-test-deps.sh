#!/usr/bin/env bash
# Install what the tests need beyond the Python lock: Debian's chromium for Playwright and
# the npm dev dependencies (axe-core). Playwright cannot download browsers here; it drives
# /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

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

# axe-core for the accessibility test, pinned by package-lock.json; `npm ci` only when the
# installed tree is missing or older than the lock (about 0.01 s when nothing changed).
if ! command -v npm >/dev/null; then
  echo "test-deps: npm is missing; install Node.js 20+ (Debian: apt-get install npm)" >&2
  exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "test-deps: axe-core $(node -p 'require("./node_modules/axe-core/package.json").version')"
