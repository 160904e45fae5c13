#!/usr/bin/env bash
# The main job on the lab: boot a lab mail host (and the lab DNS host) and show it is
# reachable. Run as root on Debian 12; `postwright lab down` removes the lab again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate

postwright lab up mx1 --ipv4 198.51.100.10 --ipv6 2001:db8::10
ansible -i "$(postwright lab inventory --path)" lab -m ansible.builtin.ping -o
