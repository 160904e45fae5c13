"""`postwright probe` and `postwright verify`: what a mail host really does, checked from the
outside against the port/TLS contract, in bounded time.

Library use (e.g. from a lab test)::

    from postwright.verify import VerifyOptions, run_verify
    report = run_verify(VerifyOptions("mx1.example.org", resolver="192.0.2.53",
                                      ca_file="/path/lab-ca.pem"))
    assert not report.failed, report.to_dict()
"""

from postwright.verify.certcheck import ExpectedCert
from postwright.verify.model import CheckResult, Report, Status
from postwright.verify.probe import Mode, Probe
from postwright.verify.runner import VerifyOptions, run_verify, verify

__all__ = ["CheckResult", "ExpectedCert", "Mode", "Probe", "Report", "Status", "VerifyOptions",
           "run_verify", "verify"]
