"""The host around the daemons: who listens on the contract ports, what the firewall lets
through, /etc/mailname, the resolver, the DKIM signer."""

from __future__ import annotations

import ipaddress
import re

from postwright.audit.judge import Judge
from postwright.audit.syntax import Fix
from postwright.verify.dnsbl import PUBLIC_RESOLVERS
from postwright.verify.model import Status

# The process name `ss -p` shows for each daemon's listening sockets.
_PROCESSES = {"postfix": {"master"}, "dovecot": {"dovecot"}}


def contract_ports(judge: Judge) -> None:
    """Each enabled contract service listens, served by the daemon the contract names."""
    rule = "audit.listen.contract_ports"
    if not judge.facts.sockets:
        judge.cannot(rule, "no listening sockets were read (ss missing?)")
        return
    for service in judge.contract.services.values():
        sockets = judge.facts.listening(service.port)
        owners = {s.process for s in sockets if s.process}
        if not service.enabled:
            if sockets:
                judge.info(rule, f"optional service {service.name} listens on {service.port}",
                           port=service.port)
            continue
        if not sockets:
            fix = (Fix("/etc/postfix/master.cf", f"no {service.name}/inet service",
                       f"postconf -M {service.name}/inet='{service.name} inet n - y - - smtpd' "
                       "and its -o overrides (see the other findings); postfix reload")
                   if service.daemon == "postfix" else
                   Fix("/etc/dovecot/dovecot.conf", "protocols",
                       f"install and enable {service.protocol} in Dovecot; "
                       "systemctl reload dovecot"))
            judge.finding(rule, f"nothing listens on port {service.port} ({service.name})", fix,
                          port=service.port)
        elif owners and not owners & _PROCESSES.get(service.daemon, owners):
            judge.finding(rule, f"port {service.port} is served by {', '.join(sorted(owners))}, "
                          f"not {service.daemon}", Fix("(listening socket)", f"port "
                          f"{service.port}", f"let {service.daemon} serve {service.name}"),
                          port=service.port)
        else:
            judge.ok(rule, f"{service.name} listens on {service.port}", port=service.port)


def _accepted_ports(lines: list[str]) -> set[int]:
    ports: set[int] = set()
    for line in lines:
        if "dport" not in line or "accept" not in line:
            continue
        spec = line.split("dport", 1)[1]
        for first, last in re.findall(r"(\d+)(?:-(\d+))?", spec.split("accept")[0]):
            ports.update(range(int(first), int(last or first) + 1))
    return ports


def firewall(judge: Judge) -> None:
    """With an nftables input chain that drops by default, each enabled contract port has an
    accept rule (a summary: counters, sets by name and addresses are not followed)."""
    rule = "audit.firewall.contract_ports"
    lines = judge.facts.firewall
    dropping = any("hook input" in line and "policy drop" in line for line in lines)
    if not dropping:
        judge.info(rule, "no nftables input chain drops by default: the firewall does not "
                   "restrict the contract ports")
        return
    accepted = _accepted_ports(lines)
    for service in judge.contract.enabled_services():
        if service.port in accepted:
            judge.ok(rule, f"nftables accepts port {service.port}", port=service.port)
        else:
            judge.finding(rule, f"the nftables input chain drops port {service.port} "
                          f"({service.name})", Fix("/etc/nftables.conf", "input chain",
                                                   f"add `tcp dport {service.port} accept`; "
                                                   "systemctl reload nftables"),
                          port=service.port, status=Status.WARN)


def mailname(judge: Judge) -> None:
    rule = "audit.host.mailname"
    name = judge.facts.mailname
    myhostname = judge.facts.postfix.param("myhostname") if judge.facts.postfix else None
    if name and "." in name:
        judge.ok(rule, f"/etc/mailname: {name}", evidence={"myhostname": myhostname})
    else:
        judge.finding(rule, "/etc/mailname is missing or not a domain name: Debian's mail "
                      "programs sign local mail with it", Fix("/etc/mailname", repr(name),
                                                              f"echo {myhostname or 'HOST'} "
                                                              "> /etc/mailname"),
                      status=Status.WARN)


def resolver(judge: Judge) -> None:
    """A public resolver in resolv.conf: DNS blocklists (Spamhaus) refuse its queries, so
    every client looks clean, and DNSSEC/DANE rest on someone else's validation."""
    rule = "audit.host.resolver"
    public = []
    for server in judge.facts.resolvers:
        try:
            if ipaddress.ip_address(server.split("%")[0]) in PUBLIC_RESOLVERS:
                public.append(server)
        except ValueError:
            continue
    if not judge.facts.resolvers:
        judge.finding(rule, "/etc/resolv.conf names no nameserver: the C library falls back "
                      "to 127.0.0.1, which answers only if a resolver runs there",
                      Fix("/etc/resolv.conf", "no nameserver line",
                          "add `nameserver 127.0.0.1` with a local validating resolver "
                          "(unbound) running"), status=Status.WARN)
    elif public:
        judge.finding(rule, f"/etc/resolv.conf uses the public resolver {', '.join(public)}: "
                      "DNS blocklists refuse it", Fix("/etc/resolv.conf", f"nameserver "
                                                      f"{public[0]}", "run a local validating "
                                                      "resolver (unbound) and use 127.0.0.1"),
                      status=Status.WARN)
    else:
        judge.ok(rule, f"resolvers: {', '.join(judge.facts.resolvers)}")


def dkim(judge: Judge) -> None:
    rule = "audit.dkim.signing"
    keys = sorted(f.path for f in judge.facts.files.values() if f.dkim)
    if judge.facts.dkim_signers:
        judge.info(rule, f"DKIM signing by {', '.join(judge.facts.dkim_signers)}"
                   + (f" (keys: {', '.join(keys)})" if keys else ""),
                   evidence={"signers": judge.facts.dkim_signers, "keys": keys})
    else:
        judge.info(rule, "no DKIM signer (OpenDKIM, rspamd) is configured: outgoing mail is "
                   "unsigned, and DMARC rests on SPF alone")
