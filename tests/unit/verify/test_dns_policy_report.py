"""The DNS-side policy checks in a whole `verify` run: in the JSON and terminal reports, and
--dnsbl turning the blocklist lookups off or to other zones."""

from __future__ import annotations

import json

from postwright.cli import main
from tests.unit.verify.dnsfixture import DnsConfig
from tests.unit.verify.servers import free_port

NEW = ("dns.dnsbl", "dns.dane", "dns.mta_sts", "dns.mta_sts.mx", "dns.mta_sts.cert",
       "dns.tlsrpt")


def test_the_new_checks_are_in_both_reports(dns_server: str, capsys) -> None:
    argv = ["verify", "mail.example.test", "--resolver", dns_server, "--service", "smtp",
            "--port", f"smtp={free_port()}", "--deadline", "10"]
    main([*argv, "--json", "-"])
    results = json.loads(capsys.readouterr().out)["results"]
    ids = [r["id"] for r in results]
    assert set(NEW) <= set(ids)
    # the example zone publishes none of them; its addresses are loopback
    by_id = {r["id"]: r for r in results if r["id"] in NEW}
    assert {r["status"] for r in by_id.values()} == {"info"}, by_id
    assert by_id["dns.dnsbl"]["summary"].endswith("is not a public address: blocklists do "
                                                  "not list it")
    assert by_id["dns.dane"]["summary"].startswith("no DANE")
    main(argv)
    text = capsys.readouterr().out
    dns_part = text.split("\nDNS\n", 1)[1]
    for check in NEW:
        assert f" {check} " in dns_part


def test_dnsbl_option_sets_or_clears_the_zones(serve_zone, capsys) -> None:
    config = DnsConfig({("mail.bl.test.", "A"): ["127.0.0.1"]})
    argv = ["verify", "mail.bl.test", "--resolver", serve_zone(config), "--service", "smtp",
            "--port", f"smtp={free_port()}", "--deadline", "10", "--json", "-"]
    main([*argv, "--dnsbl", ""])
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r for r in results if r["id"].startswith("dns.dnsbl")] == []
    main([*argv, "--dnsbl", "one.bl.test,two.bl.test"])
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["status"] for r in results if r["id"] == "dns.dnsbl"] == ["info"]
    # the loopback address is never looked up, in any zone
    assert not any(name.endswith("bl.test.") and name.startswith("1.0.0.127")
                   for name, _ in config.asked)


def test_a_bad_dnsbl_zone_is_a_usage_error_before_any_traffic(capsys) -> None:
    assert main(["verify", "127.0.0.1", "--dnsbl", "zen"]) == 2
    assert "--dnsbl: 'zen' is not a DNS zone name" in capsys.readouterr().err
