#!/bin/sh
# Upgrades a Postwright mail host from Debian 12 "bookworm" to Debian 13 "trixie" in place.
# Run as root on the host, then reboot it, then run playbooks/site.yml with the same inventory
# (docs/upgrade-debian13.md). tests/lab/test_upgrade.py runs this very script on a lab host.
set -eu
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  echo "this host runs ${PRETTY_NAME:-an unknown system}, not Debian 12 (bookworm)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
keep_our_files="-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef"

# Nothing is started or restarted while packages change: Dovecot 2.4 cannot read the 2.3
# configuration until the playbook rewrites it, and a half-upgraded daemon serves nobody well.
# The running daemons keep serving from memory until the reboot.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT

echo "== Debian 12 up to date first"
apt-get update -q
apt-get -y -q $keep_our_files upgrade

echo "== the package sources point at trixie"
for source in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$source" ] && sed -i 's/\bbookworm\b/trixie/g' "$source"
done

echo "== Debian 13"
apt-get update -q
apt-get -y -q $keep_our_files full-upgrade
apt-get -y -q autoremove
echo "Debian $(cat /etc/debian_version) installed. Reboot now; then run playbooks/site.yml with the same inventory."
