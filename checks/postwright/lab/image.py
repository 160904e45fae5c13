"""The lab's Debian images, one per suite: built once with debootstrap, cached as zstd tarballs.

The cache key is a hash of the recipe below, so changing the package list or the preparation
steps builds a new image instead of silently reusing a stale one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from postwright.errors import PostwrightError
from postwright.lab.plan import LabPaths, validate_suite
from postwright.system import run

PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "python3-apt",
    "iproute2",
    "iputils-ping",
    "netbase",
    "procps",
    "ca-certificates",
    "apt-utils",
    "less",
)
# Timers that would grab the dpkg lock or do disk work in the middle of a converge.
MASKED_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "systemd-timesyncd.service",
)
_RECIPE_VERSION = "4"
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")


def debian_mirror() -> str:
    """The Debian mirror this machine's own apt uses (the only one known to be reachable)."""
    for source in (DEBIAN_SOURCES, Path("/etc/apt/sources.list")):
        if not source.exists():
            continue
        for line in source.read_text().splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and len(words) > 1 and "security" not in words[1]:
                return words[1].rstrip("/")
            if words[:1] == ["deb"] and len(words) > 2 and "security" not in words[-2]:
                return words[1].rstrip("/")
    raise PostwrightError(f"cannot find a Debian mirror in {DEBIAN_SOURCES} or sources.list")


def image_path(paths: LabPaths, suite: str) -> Path:
    recipe = "\n".join((_RECIPE_VERSION, suite, *PACKAGES, *MASKED_UNITS))
    key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    return paths.cache / "images" / f"{suite}-{key}.tar.zst"


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_image(paths: LabPaths, suite: str) -> Path:
    """Return the suite's cached image, building it first if it does not exist yet."""
    image = image_path(paths, validate_suite(suite))
    if image.exists():
        return image
    with _locked(image.with_suffix(".lock")):
        if not image.exists():  # another process may have built it while we waited
            _build(image, suite)
    return image


def _build(image: Path, suite: str) -> None:
    mirror = debian_mirror()
    started = time.monotonic()
    print(f"building the lab image {image.name} with debootstrap (once, about a minute)",
          file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="image-", dir=image.parent) as work:
        root = Path(work) / "rootfs"
        try:
            run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(PACKAGES)}",
                    suite,
                    str(root),
                    mirror,
                ],
                timeout=900,
            )
        finally:
            # debootstrap can leave /proc (and /sys) mounted inside the new root
            for mount in ("proc", "sys"):
                subprocess.run(["umount", "-l", str(root / mount)], capture_output=True,
                               check=False)
        _prepare(root, mirror, suite)
        partial = image.with_suffix(".partial")
        run(
            ["tar", "--numeric-owner", "--one-file-system", "--zstd", "-C", str(root),
             "-cf", str(partial), "."],
            timeout=300,
        )
        partial.rename(image)
    print(f"lab image built in {time.monotonic() - started:.0f} s: {image}", file=sys.stderr)


def _prepare(root: Path, mirror: str, suite: str) -> None:
    """Make the debootstrapped tree a bootable, quiet, network-less lab image."""
    (root / "etc/apt/sources.list").write_text(
        f"deb {mirror} {suite} main\n"
        f"deb {mirror} {suite}-updates main\n"
        f"deb {mirror}-security {suite}-security main\n"
    )
    # Lab hosts are disposable: let dpkg skip fsync, and skip docs and translations, which
    # makes every package install in a converge markedly faster.
    (root / "etc/dpkg/dpkg.cfg.d/01postwright-lab").write_text(
        "force-unsafe-io\n"
        "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n"
        "path-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\n"
        "path-exclude=/usr/share/locale/*\n")
    (root / "etc/apt/apt.conf.d/01postwright-lab").write_text(
        'Acquire::Languages "none";\n')
    # Every host gets its own machine-id when it is created (see machine.py).
    (root / "etc/machine-id").unlink(missing_ok=True)
    run(["systemctl", f"--root={root}", "mask", *MASKED_UNITS])
    _first_boot_done(root)
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    # No package lists in the image (they would go stale in the cache); make apt (and Ansible's
    # cache_valid_time) see them as never updated, so the first install fetches fresh ones.
    lists = root / "var/lib/apt/lists"
    for cache in lists.glob("*_dists_*"):
        cache.unlink()
    (root / "var/lib/apt/periodic/update-success-stamp").unlink(missing_ok=True)
    for stale in (root / "var/cache/apt").glob("*.bin"):
        stale.unlink()
    os.utime(lists, (0, 0))


def _first_boot_done(root: Path) -> None:
    """Do the image's first-boot work now, once, instead of on every lab host's first boot.

    systemd runs systemd-sysusers, ldconfig and the catalog and hwdb updates at boot while
    /etc or /var are older than /usr (ConditionNeedsUpdate). The packages' own scripts did that
    work during debootstrap, and systemd-sysusers runs again here for certain; stamping /etc and
    /var as up to date keeps every booting host from redoing it, and boots shorter.
    """
    run(["systemd-sysusers", f"--root={root}"])
    stamp = int(time.time())  # whole seconds: tar keeps mtimes to the second
    for path in (root / "etc/.updated", root / "var/.updated"):
        path.write_text(f"# postwright lab image build\nTIMESTAMP_NSEC={stamp}000000000\n")
        os.utime(path, (stamp, stamp))
    os.utime(root / "usr", (stamp, stamp))
