"""`postwright audit`: read a mail host's own configuration (read-only, one SSH round trip) and
name the file, the setting and the change behind each deviation from the port/TLS contract and
the security baseline our roles apply.

collect.sh gathers the facts on the host, facts.py parses them, registry.py lists every rule
(the rules live in one module per family), run.py judges, link.py ties verify's network findings
to their causes, cli.py is the command.
"""
