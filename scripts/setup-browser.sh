#!/usr/bin/env bash
# Installs what the headless-browser tests need on Debian 12: the chromium, nodejs and npm
# packages (when missing, as root), and the pinned drivers of tests/browser/package-lock.json
# (puppeteer-core, axe-core) into tests/browser/node_modules with `npm ci`. scripts/test.sh
# runs it; the tests skip themselves when it could not (not root, no network), and fail instead
# under FLOURISH_REQUIRE_BROWSER=1 (CI). Nothing is fetched when the tests run.
#
#   sudo bash scripts/setup-browser.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-browser.sh: missing ${missing[*]}; run: sudo bash scripts/setup-browser.sh" >&2
    exit 1
  fi
  echo "== Installing ${missing[*]} for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci again only when the lock file changed since the last install.
lock=tests/browser/package-lock.json stamp=tests/browser/node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  echo "== Installing the browser-test drivers (npm ci, $lock)"
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
else
  echo "== Browser-test drivers are installed"
fi
