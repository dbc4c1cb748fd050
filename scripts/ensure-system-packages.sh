#!/usr/bin/env bash
# Installs the Debian packages the tests need, if missing: headless Chromium + ChromeDriver (page tests)
# and a CJK font (tests that make PDFs of Chinese text).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v fc-list >/dev/null && fc-list :lang=zh | grep -q . || missing+=(fontconfig fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "some tests will skip: install ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
