"""A provisioned host seen by real clients from outside its mynetworks: mail over 25, 465 and
587 read back over IMAPS, and every policy the port contract promises, tested negatively."""

from __future__ import annotations

import datetime as dt
import smtplib
import socket
import ssl
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hostsuite.clients import IMAPS, SMTP, SMTPS, TIMEOUT, message, tls_handshake
from hostsuite.conftest import MailHost
from postwright.contract import Contract, Service

OUTSIDE = "someone@relay-test.invalid"  # a reserved domain: nothing can ever be delivered there


@pytest.fixture(scope="module")
def ports(contract: Contract) -> dict[str, int]:
    return {name: service.port for name, service in contract.services.items()}


@pytest.fixture(scope="module")
def sent(mail: MailHost, ports: dict[str, int], tls_context: ssl.SSLContext) -> dict[str, str]:
    """Send one message over each SMTP port; return service name -> unique subject."""
    address, password = mail.user()
    tag = uuid.uuid4().hex[:10]
    subjects = {name: f"postwright-{tag}-{name}" for name in ("smtp", "submission", "submissions")}

    for name in subjects:
        with _submission(mail, ports, tls_context, name) as smtp:
            if name == "smtp":  # the MX: a stranger's mail, no AUTH
                smtp.send_message(message("someone@sender.example", address, subjects[name]))
            else:
                smtp.login(address, password)
                smtp.send_message(message(address, address, subjects[name]))
    return subjects


def test_mail_sent_over_25_465_and_587_arrives_in_imaps(
    mail: MailHost, ports: dict[str, int], tls_context: ssl.SSLContext, sent: dict[str, str]
) -> None:
    _await(mail, ports, tls_context, mail.user(), sent)


def _await(mail: MailHost, ports: dict[str, int], tls_context: ssl.SSLContext,
           account: tuple[str, str], subjects: dict[str, str]) -> dict[str, bytes]:
    """Wait (20 s at most) until a message with each subject is in the account's INBOX, then
    delete them (the mailbox is left as we found it); returns each message's header."""
    deadline = time.monotonic() + 20
    found: dict[str, bytes] = {}
    while True:
        with IMAPS(mail.ip, ports["imaps"], mail.name, tls_context) as imap:
            imap.login(*account)
            imap.select("INBOX")
            for name, subject in subjects.items():
                _, data = imap.search(None, "SUBJECT", subject)
                if data[0].split():
                    _, fetched = imap.fetch(data[0].split()[0], "(BODY.PEEK[HEADER])")
                    found[name] = fetched[0][1] if isinstance(fetched[0], tuple) else b""
            if found.keys() == subjects.keys():
                for subject in subjects.values():
                    _, data = imap.search(None, "SUBJECT", subject)
                    for num in data[0].split():
                        imap.store(num, "+FLAGS", "\\Deleted")
                imap.expunge()
                return found
        assert time.monotonic() < deadline, f"only {sorted(found)} of {sorted(subjects)} arrived"
        time.sleep(0.5)


def test_imaps_refuses_a_wrong_password(mail: MailHost, ports: dict[str, int],
                                        tls_context: ssl.SSLContext) -> None:
    address, _ = mail.user()
    with IMAPS(mail.ip, ports["imaps"], mail.name, tls_context) as imap, \
            pytest.raises(IMAPS.error, match=r"AUTHENTICATIONFAILED|failed"):
        imap.login(address, "not-the-password")


@pytest.mark.parametrize("service", ["submission", "submissions"])
def test_submission_refuses_a_wrong_password(mail: MailHost, ports: dict[str, int],
                                             tls_context: ssl.SSLContext, service: str) -> None:
    address, _ = mail.user()
    with _submission(mail, ports, tls_context, service) as smtp, \
            pytest.raises(smtplib.SMTPAuthenticationError):
        smtp.login(address, "not-the-password")


@pytest.mark.parametrize("service", ["smtp", "submission"])
def test_no_auth_is_offered_before_tls(mail: MailHost, ports: dict[str, int],
                                       service: str) -> None:
    with SMTP(mail.ip, ports[service], mail.name) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth"), smtp.esmtp_features


def test_mx_port_offers_no_auth_even_after_starttls(mail: MailHost, ports: dict[str, int],
                                                    tls_context: ssl.SSLContext) -> None:
    with SMTP(mail.ip, ports["smtp"], mail.name) as smtp:
        smtp.starttls(context=tls_context)
        smtp.ehlo()
        assert not smtp.has_extn("auth"), smtp.esmtp_features


def test_submission_requires_starttls_before_mail(mail: MailHost, ports: dict[str, int]) -> None:
    address, _ = mail.user()
    with SMTP(mail.ip, ports["submission"], mail.name) as smtp:
        smtp.ehlo()
        code, reply = smtp.mail(address)
        assert code == 530, reply


@pytest.mark.parametrize("service", ["smtp", "submission", "submissions"])
def test_unauthenticated_relay_is_refused(mail: MailHost, ports: dict[str, int],
                                          tls_context: ssl.SSLContext, service: str) -> None:
    with _submission(mail, ports, tls_context, service) as smtp:
        smtp.ehlo()
        smtp.mail("stranger@sender.example")
        code, reply = smtp.rcpt(OUTSIDE)
        smtp.rset()
    assert code >= 500, reply


def test_sender_login_mismatch_is_refused(mail: MailHost, ports: dict[str, int],
                                          tls_context: ssl.SSLContext) -> None:
    address, password = mail.user(0)
    other, _ = mail.user(1)
    with _submission(mail, ports, tls_context, "submission") as smtp:
        smtp.login(address, password)
        smtp.mail(other)
        code, reply = smtp.rcpt(address)
        smtp.rset()
    assert code == 553, reply


def test_submitted_mail_leaves_without_the_client_address_or_mail_program(
        mail: MailHost, ports: dict[str, int], tls_context: ssl.SSLContext) -> None:
    address, password = mail.user()
    subject = f"postwright-{uuid.uuid4().hex[:10]}-private"
    submitted = message(address, address, subject)
    submitted["User-Agent"] = "Postwright-Test/1.0"
    submitted["X-Originating-IP"] = "[192.0.2.7]"
    with _submission(mail, ports, tls_context, "submission") as smtp:
        assert smtp.sock is not None
        client = smtp.sock.getsockname()[0].encode()
        smtp.login(address, password)
        smtp.send_message(submitted)
    header = _await(mail, ports, tls_context, mail.user(), {"private": subject})["private"]
    assert b"Postwright-Test" not in header, header
    assert b"192.0.2.7" not in header, header
    assert client not in header, header
    assert b"Received:" in header  # Dovecot's own delivery line stays


@pytest.mark.parametrize("service", ["submission", "submissions"])
def test_the_null_sender_is_refused_on_submission(mail: MailHost, ports: dict[str, int],
                                                  tls_context: ssl.SSLContext,
                                                  service: str) -> None:
    """reject_sender_login_mismatch lets <> through; a login must not hide behind it."""
    address, password = mail.user(0)
    with _submission(mail, ports, tls_context, service) as smtp:
        smtp.login(address, password)
        smtp.mail("")
        code, reply = smtp.rcpt(address)
        smtp.rset()
    assert code == 554, reply
    assert b"null sender" in reply


def test_mail_to_root_and_to_each_postmaster_reaches_the_admin(
        host: Any, mail: MailHost, ports: dict[str, int], tls_context: ssl.SSLContext) -> None:
    """root's mail (cron) written on the host, and postmaster@ of the host name and of every
    hosted domain written from outside, all land in the admin's mailbox."""
    tag = uuid.uuid4().hex[:10]
    subjects = {"root": f"postwright-{tag}-root"}
    for recipient in [f"postmaster@{mail.name}", *(f"postmaster@{d}" for d in mail.domains)]:
        subjects[recipient] = f"postwright-{tag}-{recipient}"
    host.run_expect([0], f"printf 'Subject: {subjects['root']}\\n\\ncron says hi\\n'"
                    " | /usr/sbin/sendmail root")
    with _submission(mail, ports, tls_context, "smtp") as smtp:
        for recipient, subject in subjects.items():
            if recipient != "root":
                smtp.send_message(message("someone@sender.example", recipient, subject))
    _await(mail, ports, tls_context, mail.account(mail.admin), subjects)


@pytest.fixture(scope="module")
def legacy_context() -> ssl.SSLContext:
    """A client that offers only TLS 1.0/1.1 - proved able to complete such a handshake with a
    loopback server, so a refusal by the mail host means the host refused it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    _prove_legacy_client_works(context)
    return context


def _prove_legacy_client_works(client: ssl.SSLContext) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "legacy.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .sign(key, hashes.SHA256()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.minimum_version = ssl.TLSVersion.TLSv1
    server.set_ciphers("DEFAULT:@SECLEVEL=0")
    with tempfile.TemporaryDirectory() as tmp:
        pem = Path(tmp) / "c.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        server.load_cert_chain(pem)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server.wrap_socket(conn, server_side=True):
                pass
        except ssl.SSLError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with socket.create_connection(("127.0.0.1", port), TIMEOUT) as raw, \
            client.wrap_socket(raw) as tls:
        assert tls.version() in ("TLSv1", "TLSv1.1")
    thread.join(TIMEOUT)
    listener.close()


def test_legacy_tls_is_refused_on_every_tls_port(
    mail: MailHost, enabled: list[Service], legacy_context: ssl.SSLContext
) -> None:
    for ip in mail.addresses:
        for service in enabled:
            with pytest.raises((ssl.SSLError, smtplib.SMTPException, ConnectionError)):
                tls_handshake(ip, service, mail.name, legacy_context).close()


def test_modern_tls_works_on_every_port_and_address(
    mail: MailHost, enabled: list[Service], tls_context: ssl.SSLContext
) -> None:
    for ip in mail.addresses:
        for service in enabled:
            with tls_handshake(ip, service, mail.name, tls_context) as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3"), (ip, service.name)


def _submission(mail: MailHost, ports: dict[str, int], context: ssl.SSLContext,
                service: str) -> smtplib.SMTP:
    """A session on `service` that has reached TLS the way the contract says."""
    if service == "submissions":
        return SMTPS(mail.ip, ports[service], mail.name, context)
    smtp = SMTP(mail.ip, ports[service], mail.name)
    smtp.starttls(context=context)
    return smtp
