#!/usr/bin/env bash
# The main job on the lab, end to end: boot the two lab mail hosts of inventories/example (mx1 for
# example.test, mx2 for example.net) and the lab DNS host (BIND), provision both (Postfix,
# Dovecot, TLS from the lab CA, DKIM, nftables firewall), write their DNS records and push them to
# the lab DNS server, then verify each host from the network as any outside client would.
# mx1 runs Debian 12 and mx2 Debian 13 (`lab_suite` in the inventory). Run as root on Debian 12; `.venv/bin/postwright lab down` removes the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate

hosts=(mx1 mx2)
inventory_json=$(ansible-inventory -i inventories/example --list)  # read once, queried below
host_var() {  # host_var HOST EXPRESSION -> a value from the example inventory (v: its variables)
  python3 -c "import json,sys; v=json.load(sys.stdin)['_meta']['hostvars']['$1']; print($2)" \
    <<<"$inventory_json"
}

echo "== lab: boot ${hosts[*]} at their inventory addresses, and the DNS host"
for host in "${hosts[@]}"; do
  postwright lab up "$host" --ipv4 "$(host_var "$host" 'v["mail_ipv4"]')" \
    --ipv6 "$(host_var "$host" 'v["mail_ipv6"]')" --suite "$(host_var "$host" 'v["lab_suite"]')" \
    --dns-zone example.test --dns-zone example.net
done
lab_inventory=$(postwright lab inventory --path)

echo "== provision ${hosts[*]} and publish their DNS records"
ansible-playbook -i inventories/example -i "$lab_inventory" playbooks/site.yml

password_file=$(mktemp)
trap 'rm -f "$password_file"' EXIT
for host in "${hosts[@]}"; do
  name=$(host_var "$host" 'v["mail_hostname"]')
  user=$(host_var "$host" 'v["mail_users"][0]["address"]')
  host_var "$host" 'v["mail_users"][0]["password"]' > "$password_file"

  echo "== $host: the records, and who must publish each"
  dkim_keys=()  # the public keys the dkim role fetched: out/dkim/HOST/DOMAIN.SELECTOR.txt
  for key in out/dkim/"$host"/*.mail.txt; do
    [[ -e $key ]] && dkim_keys+=(--dkim-public-key "$(basename "$key" .mail.txt)=$key")
  done
  postwright dns records -i inventories/example -i "$lab_inventory" --host "$host" "${dkim_keys[@]}"

  echo "== $host: verify $name from the network (round trip as $user, DKIM selector mail)"
  postwright verify "$name" --resolver 198.51.100.53 \
    --ca-file "$HOME/.local/share/postwright/lab-ca/ca.crt" --dkim-selector mail \
    --user "$user" --password-file "$password_file"
done
