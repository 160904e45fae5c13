"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
POSTWRIGHT = [sys.executable, "-m", "postwright.cli"]


def postwright(*args: str, check: bool = True, timeout: float = 600,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `postwright` command line and return its result."""
    done = subprocess.run([*POSTWRIGHT, *args], capture_output=True, text=True, timeout=timeout,
                          check=False, cwd=REPO, env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        pytest.fail(f"postwright {' '.join(args)} exited {done.returncode}:\n"
                    f"{done.stdout}\n{done.stderr}")
    return done
