"""A lab host built by hand from Debian's stock packages, not by our roles: shared by the lab
tests that judge such a host from outside (verify) and from inside (audit)."""

from __future__ import annotations

from postwright.lab.network import routed_via_lab
from tests.conftest import REPO, postwright
from tests.lab.playbook import on_host

IP, IP6, NAME = "198.51.100.10", "2001:db8::10", "mail.example.test"
LAB_DNS = "198.51.100.53"
TSIG_KEY = "/var/lib/postwright/lab/tsig.key"

# Postfix ("Internet Site", the mail name) and Dovecot's IMAP as Debian installs them.
INSTALL = " && ".join([
    "echo 'postfix postfix/main_mailer_type select Internet Site' | debconf-set-selections",
    f"echo 'postfix postfix/mailname string {NAME}' | debconf-set-selections",
    "apt-get update -q >/dev/null",
    "DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix dovecot-imapd >/dev/null",
    f"postconf -e myhostname={NAME}",
])


def boot_stock_host(suite: str) -> None:
    """mx1 on `suite` (bookworm or trixie) with the stock packages installed, its DNS
    published; the caller takes the lab down."""
    postwright("lab", "up", "mx1", "--ipv4", IP, "--ipv6", IP6, "--suite", suite,
               "--dns-zone", "example.test")
    for ip in (IP, IP6, LAB_DNS):
        assert routed_via_lab(ip), ip
    on_host("mx1", INSTALL)
    postwright("dns", "push", "-i", str(REPO / "inventories/example"), "--host", "mx1",
               "--server", LAB_DNS, "--tsig-key-file", TSIG_KEY)
