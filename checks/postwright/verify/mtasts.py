"""dns.mta_sts*: the MTA-STS policy (RFC 8461) as a sender would find and apply it.

MTA-STS makes senders refuse plaintext or unauthenticated delivery. Each part can fail on its
own and quietly: the TXT record (`v=STSv1; id=...`), the policy file on
https://mta-sts.<domain>/.well-known/mta-sts.txt (fetched with a valid certificate, no
redirects), its syntax (a typo in `mode` makes senders drop the policy), its `mx:` patterns
(under `enforce`, mail to an MX no pattern covers is refused) and the certificate served on
port 25 (under `enforce`, one not valid for the MX name stops delivery).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from postwright.verify.httpsget import HttpsResult, https_get
from postwright.verify.model import Collector, Status
from postwright.verify.resolver import Resolver, txt_strings
from postwright.verify.served import SMTP_PORT, PortTasks, served_tls
from postwright.verify.tlsinfo import name_matches

CHECK_ID = "dns.mta_sts"
MX_ID = "dns.mta_sts.mx"
CERT_ID = "dns.mta_sts.cert"
POLICY_PATH = "/.well-known/mta-sts.txt"
MODES = ("enforce", "testing", "none")
MAX_AGE_LIMIT = 31557600  # RFC 8461 3.2: about one year
MIN_AGE_ADVISED = 86400  # shorter and a policy protects little between fetches
_ID = re.compile(r"[A-Za-z0-9]{1,32}")


@dataclass
class Policy:
    version: str | None = None
    mode: str | None = None
    max_age: int | None = None
    mx: list[str] = field(default_factory=list)
    problems: list[tuple[Status, str]] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """Senders apply the policy: version and mode right, max_age present."""
        return self.version == "STSv1" and self.mode in MODES and self.max_age is not None

    def evidence(self) -> dict[str, Any]:
        return {"version": self.version, "mode": self.mode, "max_age": self.max_age,
                "mx": self.mx}


def parse_policy(text: str) -> Policy:
    """RFC 8461 3.2: `key: value` lines (CRLF, LF tolerated); unknown keys are ignored."""
    policy = Policy()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not line.strip():
            continue
        if not sep:
            policy.problems.append((Status.FAIL, f"line {line[:40]!r} is not `key: value`"))
            continue
        key, value = key.strip(), value.strip()
        if key == "version":
            policy.version = value
        elif key == "mode":
            policy.mode = value
        elif key == "max_age":
            policy.max_age = int(value) if value.isdigit() and len(value) <= 10 else None
            if policy.max_age is None:
                policy.problems.append((Status.FAIL, f"max_age {value!r} is not a number"))
        elif key == "mx":
            policy.mx.append(value)
    _judge(policy)
    return policy


def _judge(policy: Policy) -> None:
    add = policy.problems.append
    if policy.version != "STSv1":
        add((Status.FAIL, f"version is {policy.version!r}, not 'STSv1': senders ignore the "
             "policy"))
    if policy.mode not in MODES:
        add((Status.FAIL, f"mode is {policy.mode!r}, not one of {', '.join(MODES)}: senders "
             "ignore the policy"))
    if policy.max_age is None:
        if not any("max_age" in p for _, p in policy.problems):
            add((Status.FAIL, "max_age is missing: senders ignore the policy"))
    elif policy.max_age > MAX_AGE_LIMIT:
        add((Status.FAIL, f"max_age {policy.max_age} exceeds {MAX_AGE_LIMIT} (RFC 8461)"))
    elif policy.max_age < MIN_AGE_ADVISED:
        add((Status.WARN, f"max_age {policy.max_age} is under a day: senders forget the "
             "policy between visits, and an attacker who strips it wins"))
    if policy.mode in ("enforce", "testing") and not policy.mx:
        add((Status.FAIL, f"mode {policy.mode} without any mx: line: no MX is covered"))


def covered(mx: str, patterns: list[str]) -> bool:
    """RFC 8461 4.1: exact, or `*.example.org` for exactly one more leftmost label."""
    return name_matches(mx, patterns)


def check_record(texts: list[str]) -> tuple[str | None, str]:
    """(the id, "") for exactly one good `v=STSv1` record; else (None, what is wrong)."""
    records = [t for t in texts if t.startswith("v=STSv1")]
    if len(records) != 1:
        return None, f"{len(records)} v=STSv1 records (exactly one needed)"
    tags = dict(part.strip().partition("=")[::2] for part in records[0].split(";")
                if part.strip())
    policy_id = tags.get("id", "")
    if not _ID.fullmatch(policy_id):
        return None, f"id={policy_id!r} is not 1-32 letters and digits"
    return policy_id, ""


class MtaStsCheck:
    def __init__(self, resolver: Resolver, col: Collector, *, domain: str | None,
                 mx_name: str | None, addresses: list[str], port_tasks: PortTasks,
                 ca_file: str | None, timeout: float, https_port: int = 443) -> None:
        self.dns = resolver
        self.col = col
        self.domain = domain
        self.mx_name = mx_name
        self.addresses = addresses
        self.tasks = port_tasks
        self.ca_file = ca_file
        self.timeout = timeout
        self.https_port = https_port  # 443; a test hook

    def _skip_rest(self, why: str, status: Status = Status.SKIP) -> None:
        self.col.close_pending(why, status)

    async def run(self) -> None:
        self.col.expect(CHECK_ID, MX_ID, CERT_ID)
        if self.domain is None:
            self._skip_rest("HOST is an IP address and no --domain was given: no mail domain")
            return
        name = f"_mta-sts.{self.domain}"
        lookup = await self.dns.txt(name)
        ev: dict[str, Any] = {**lookup.evidence(), "resolver": self.dns.description}
        if lookup.status == "error":
            self.col.add(CHECK_ID, Status.ERROR, f"TXT lookup of {name} failed: {lookup.error}",
                         evidence=ev)
            self._skip_rest("the MTA-STS record could not be read")
            return
        texts = txt_strings(lookup)
        if not any(t.startswith("v=STSv1") for t in texts):
            self._skip_rest(f"no MTA-STS: no v=STSv1 TXT record at {name} (optional; senders "
                            "then deliver with opportunistic TLS)", Status.INFO)
            return
        policy_id, wrong = check_record(texts)
        if policy_id is None:
            self.col.add(CHECK_ID, Status.FAIL, f"{name}: {wrong}: senders ignore MTA-STS",
                         evidence=ev, remedy=f'publish one TXT {name} "v=STSv1; id=<new id>"')
            self._skip_rest("no usable MTA-STS record")
            return
        ev["id"] = policy_id
        fetched = await https_get(self.dns, f"mta-sts.{self.domain}", POLICY_PATH,
                                  ca_file=self.ca_file, timeout=self.timeout,
                                  port=self.https_port)
        policy = self._policy(fetched, ev)
        if policy is None or not policy.usable:
            self._skip_rest("no usable MTA-STS policy (see dns.mta_sts)")
            return
        if policy.mode == "none":
            self._skip_rest("MTA-STS mode none: senders apply nothing", Status.INFO)
            return
        await self._mx(policy)
        for ip in self.addresses:
            await self._cert(ip, policy)
        self._skip_rest(f"no address of the host to check port {SMTP_PORT} on")

    def _policy(self, fetched: HttpsResult, ev: dict[str, Any]) -> Policy | None:
        ev.update({"url": fetched.url, "address": fetched.address,
                   "http_status": fetched.status, "port": self.https_port})
        remedy = (f"serve the policy at {fetched.url} with a certificate valid for "
                  f"mta-sts.{self.domain} (status 200, text/plain, no redirect)")
        problem = fetched.error
        if not problem and fetched.status is not None and 300 <= fetched.status < 400:
            problem = (f"{fetched.url} redirects (HTTP {fetched.status} to "
                       f"{fetched.headers.get('location', '?')}): RFC 8461 3.3 forbids "
                       "following it")
        elif not problem and fetched.status != 200:
            problem = f"{fetched.url} answers HTTP {fetched.status}"
        if problem:
            self.col.add(CHECK_ID, Status.FAIL, f"the MTA-STS policy cannot be fetched: "
                         f"{problem}; senders without a cached copy apply no policy",
                         evidence=ev, remedy=remedy)
            return None
        policy = parse_policy(fetched.body.decode("utf-8", "replace"))
        ev["policy"] = policy.evidence()
        ctype = fetched.headers.get("content-type", "")
        if not ctype.lower().startswith("text/plain"):
            policy.problems.append((Status.WARN, f"Content-Type is {ctype or 'missing'!r}, "
                                    "not text/plain (RFC 8461 3.2)"))
        fails = [p for s, p in policy.problems if s is Status.FAIL]
        warns = [p for s, p in policy.problems if s is Status.WARN]
        if fails or warns:
            self.col.add(CHECK_ID, Status.FAIL if fails else Status.WARN,
                         "MTA-STS policy: " + "; ".join(fails + warns), evidence=ev,
                         remedy="fix the policy file (version: STSv1, mode: enforce|testing|"
                         "none, mx: <each MX>, max_age: 86400..31557600) and change the id "
                         "in the TXT record")
        else:
            self.col.add(CHECK_ID, Status.PASS, f"MTA-STS mode {policy.mode}, max_age "
                         f"{policy.max_age}, mx {', '.join(policy.mx)} (id {ev['id']})",
                         evidence=ev)
        return policy

    async def _mx(self, policy: Policy) -> None:
        assert self.domain is not None  # noqa: S101 - run() checked it
        lookup = await self.dns.query(self.domain, "MX")
        names = [r.exchange.to_text().rstrip(".") for r in lookup.records]
        names = [n for n in names if n]  # a null MX has nothing to cover
        ev = {"mx": names, "patterns": policy.mx, "mode": policy.mode}
        if lookup.status == "error":
            self.col.add(MX_ID, Status.ERROR, f"MX lookup failed: {lookup.error}", evidence=ev)
            return
        missing = [n for n in names if not covered(n, policy.mx)]
        if not names:
            self.col.add(MX_ID, Status.SKIP, f"{self.domain} has no MX to cover", evidence=ev)
        elif missing:
            enforce = policy.mode == "enforce"
            self.col.add(MX_ID, Status.FAIL if enforce else Status.WARN,
                         f"MTA-STS mx: patterns {policy.mx} do not cover {', '.join(missing)}: "
                         + ("senders refuse to deliver to it" if enforce
                            else "senders would refuse it once mode is enforce"),
                         evidence=ev, remedy="add `mx: <name>` for every MX to the policy "
                         "and change the id in the TXT record")
        else:
            self.col.add(MX_ID, Status.PASS, f"every MX ({', '.join(names)}) is covered",
                         evidence=ev)

    async def _cert(self, ip: str, policy: Policy) -> None:
        if not self.mx_name:
            self.col.add(CERT_ID, Status.SKIP, "HOST is an IP address and no --servername was "
                         "given: no MX name to check the certificate for", ip=ip)
            return
        tls, why = await served_tls(self.tasks, ip)
        if tls is None:
            self.col.add(CERT_ID, Status.ERROR if ip in self.tasks else Status.SKIP,
                         f"cannot check the certificate: {why}", ip=ip)
            return
        cert = tls.cert or {}
        names = list(cert.get("names", []))
        problems = []
        if not tls.trusted:
            problems.append(f"it is not trusted ({tls.verify_error})")
        if not name_matches(self.mx_name, names):
            problems.append(f"its names {names} do not cover {self.mx_name}")
        if int(cert.get("days_left", 0)) < 0:
            problems.append("it has expired")
        ev = {"mode": policy.mode, "names": names, "trusted": tls.trusted,
              "not_after": cert.get("not_after")}
        if not problems:
            self.col.add(CERT_ID, Status.PASS, f"the certificate on port {SMTP_PORT} of {ip} "
                         f"is valid for {self.mx_name}, as MTA-STS {policy.mode} requires",
                         ip=ip, evidence=ev)
            return
        enforce = policy.mode == "enforce"
        self.col.add(CERT_ID, Status.FAIL if enforce else Status.WARN,
                     f"the certificate on port {SMTP_PORT} of {ip}: {'; '.join(problems)}: "
                     + ("MTA-STS senders refuse to deliver (mode enforce)" if enforce
                        else "MTA-STS senders would refuse it under enforce (mode testing: "
                        "they only report)"), ip=ip, evidence=ev,
                     remedy=f"serve a certificate from a public CA valid for {self.mx_name} "
                     "on port 25 (the full chain)")
