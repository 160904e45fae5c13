#!/usr/bin/env bash
# The main job on the lab, end to end: boot a lab mail host and the lab DNS host (BIND), provision
# the mail host from inventories/example (Postfix, Dovecot, TLS from the lab CA), write its DNS
# records and push them to the lab DNS server, then verify the host from the network as any
# outside client would. Run as root on Debian 12; `.venv/bin/postwright lab down` removes the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate

echo "== lab: boot mx1 at its inventory addresses, and the DNS host"
postwright lab up mx1 --ipv4 198.51.100.10 --ipv6 2001:db8::10
lab_inventory=$(postwright lab inventory --path)

echo "== provision mx1 and publish its DNS records"
ansible-playbook -i inventories/example -i "$lab_inventory" playbooks/site.yml

echo "== the records, and who must publish each"
postwright dns records -i inventories/example -i "$lab_inventory" --host mx1

echo "== verify mail.example.test from the network (round trip as alice)"
password_file=$(mktemp)
trap 'rm -f "$password_file"' EXIT
ansible-inventory -i inventories/example --host mx1 \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["mail_users"][0]["password"])' > "$password_file"
postwright verify mail.example.test --resolver 198.51.100.53 \
  --ca-file "$HOME/.local/share/postwright/lab-ca/ca.crt" \
  --user alice@example.test --password-file "$password_file"
