#!/usr/bin/env bash
# Installs what Postwright needs on a fresh Debian 12 machine (run as root): the lab's host
# tools from apt, and a virtualenv (.venv) with Postwright, pinned Ansible and the test tools.
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  debootstrap systemd-container zstd iproute2 util-linux iputils-ping  # the lab hosts
  apt-cacher-ng                                                         # their package proxy
  bind9-utils                                                           # named-checkzone
  make
)
VENV=${VENV:-.venv}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

stamp="$VENV/.postwright-installed"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
  echo "setup: building $VENV"
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[dev]'
  touch "$stamp"
fi
