#!/usr/bin/env bash
# Benchmarks (make bench): Postwright beside peer tools (swaks, testssl) on the same lab host.
# Installs what is missing; run as root on Debian 12. Timings are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
for pkg in swaks testssl.sh libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >/dev/null
done
exec .venv/bin/python bench/run.py
