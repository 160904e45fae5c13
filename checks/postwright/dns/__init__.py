"""`postwright dns`: the DNS records a mail host needs, from the same inventory as Ansible.

Library entry points (what the Ansible side and the lab call):

    plan = plan_from_inventory(["inventories/example"], "mx1")   # or plan_from_vars_file(path)
    records = compute_records(plan)                               # list[Record]
    write_zone_files(plan, Path("out"))                           # <zone>.zone, idempotent
    result = diff_server(records, udp_query("192.0.2.53", 53))    # DiffResult
    push(result, tcp_sender("192.0.2.53", 53, 5.0), load_key(Path("key.conf")))

Modules: names (validation, reverse names), inventory (MailHostPlan), loader (ansible-inventory
and vars files), spf, dkim, txt, records, render (zone files, JSON, table), diff, tsig,
update (RFC 2136), cli.
"""

from postwright.dns.diff import DiffResult, diff_server, parse_server, udp_query
from postwright.dns.inventory import MailHostPlan, plan_from_vars
from postwright.dns.loader import plan_from_inventory, plan_from_vars_file
from postwright.dns.records import Record, compute_records
from postwright.dns.render import render_json, render_table, render_zones, write_zone_files
from postwright.dns.tsig import TsigKey, load_key, parse_key_file
from postwright.dns.update import build_updates, push, tcp_sender

__all__ = [
    "DiffResult",
    "MailHostPlan",
    "Record",
    "TsigKey",
    "build_updates",
    "compute_records",
    "diff_server",
    "load_key",
    "parse_key_file",
    "parse_server",
    "plan_from_inventory",
    "plan_from_vars",
    "plan_from_vars_file",
    "push",
    "render_json",
    "render_table",
    "render_zones",
    "tcp_sender",
    "udp_query",
    "write_zone_files",
]
