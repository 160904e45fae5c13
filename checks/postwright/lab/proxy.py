"""The lab hosts' only way to Debian packages: apt-cacher-ng on the controller.

Hosts have no route out; they reach the proxy on the controller's lab address. The proxy
fetches from the mirror this machine's own apt uses (apt-cacher-ng's built-in default mirror
may be unreachable from here), and its cache makes every converge after the first one fast.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from postwright.errors import PostwrightError
from postwright.lab.image import debian_mirror
from postwright.lab.plan import APT_PROXY_PORT, CONTROLLER4
from postwright.system import run

BACKENDS = Path("/etc/apt-cacher-ng/backends_debian")
INIT_SCRIPT = Path("/etc/init.d/apt-cacher-ng")


def proxy_url() -> str:
    return f"http://{CONTROLLER4}:{APT_PROXY_PORT}"


def _listening() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", APT_PROXY_PORT), timeout=1):
            return True
    except OSError:
        return False


def ensure_apt_proxy() -> None:
    """Configure apt-cacher-ng for this machine's mirror and make sure it is serving."""
    if not INIT_SCRIPT.exists():
        raise PostwrightError("apt-cacher-ng is not installed: run `make setup` first")
    backend = debian_mirror() + "/\n"
    changed = not BACKENDS.exists() or BACKENDS.read_text() != backend
    if changed:
        BACKENDS.write_text(backend)
    if _listening() and not changed:
        return
    # The host's policy-rc.d may forbid service starts from package scripts; the init script
    # itself is allowed.
    run([str(INIT_SCRIPT), "restart" if _listening() else "start"], timeout=60)
    deadline = time.monotonic() + 10
    while not _listening():
        if time.monotonic() > deadline:
            raise PostwrightError(f"apt-cacher-ng did not start listening on port {APT_PROXY_PORT}")
        time.sleep(0.1)
