#!/usr/bin/env bash
# Installs Debian's headless Chromium and ChromeDriver for the page tests, if they are missing.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "page tests need chromium and chromium-driver: sudo apt-get install chromium chromium-driver" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
