"""The port/TLS contract (contract/ports.yml) as typed Python objects.

The Ansible roles read the same file; Python code must take ports, TLS modes and AUTH rules
from here and never spell them out again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from postwright.errors import PostwrightError

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "contract" / "ports.yml"


class TlsMode(StrEnum):
    IMPLICIT = "implicit"  # TLS from the first byte
    STARTTLS = "starttls"  # plaintext greeting, then STARTTLS / STLS


class AuthRule(StrEnum):
    NEVER = "never"
    REQUIRED = "required"


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    protocol: str
    daemon: str
    tls: TlsMode
    tls_required: bool
    auth: AuthRule
    enabled: bool
    optional: bool
    summary: str


@dataclass(frozen=True)
class Contract:
    min_protocol: str
    protocols: tuple[str, ...]
    services: dict[str, Service]

    def service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            known = ", ".join(self.services)
            raise PostwrightError(f"unknown service {name!r} (known: {known})") from None

    def by_port(self, port: int) -> Service | None:
        return next((s for s in self.services.values() if s.port == port), None)

    def enabled_services(self, optional_on: Iterable[str] = ()) -> list[Service]:
        """Services on by default plus the optional ones switched on (by name)."""
        switched = set(optional_on)
        unknown = switched - {s.name for s in self.services.values() if s.optional}
        if unknown:
            raise PostwrightError(f"not an optional service: {', '.join(sorted(unknown))}")
        return [s for s in self.services.values() if s.enabled or s.name in switched]


def contract_path() -> Path:
    return Path(os.environ.get("POSTWRIGHT_CONTRACT", DEFAULT_PATH))


@cache
def load_contract(path: Path | None = None) -> Contract:
    """Parse and sanity-check the contract file; errors name the offending field."""
    source = path or contract_path()
    try:
        data: dict[str, Any] = yaml.safe_load(source.read_text())
        services = {
            name: Service(
                name=name,
                port=int(spec["port"]),
                protocol=str(spec["protocol"]),
                daemon=str(spec["daemon"]),
                tls=TlsMode(spec["tls"]),
                tls_required=bool(spec["tls_required"]),
                auth=AuthRule(spec["auth"]),
                enabled=bool(spec["enabled"]),
                optional=bool(spec["optional"]),
                summary=str(spec["summary"]),
            )
            for name, spec in data["services"].items()
        }
        contract = Contract(
            min_protocol=str(data["tls"]["min_protocol"]),
            protocols=tuple(data["tls"]["protocols"]),
            services=services,
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise PostwrightError(f"invalid port contract {source}: {exc!r}") from exc
    ports = [s.port for s in services.values()]
    if len(ports) != len(set(ports)):
        raise PostwrightError(f"invalid port contract {source}: a port is listed twice")
    return contract
