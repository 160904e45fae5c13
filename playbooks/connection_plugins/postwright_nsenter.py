"""Ansible connection to a Postwright lab host: community.docker.nsenter, with pipelining.

Why: community.docker's nsenter plugin sends every module as a file (make a temporary
directory, copy the module in, run it, remove the directory: four nsenter round trips per
task). Its exec_command already hands `in_data` to the command's stdin, which is all that
pipelining needs, so a task becomes one round trip. Only the lab uses this plugin (the
inventory that `postwright lab` writes names it); real hosts are reached over SSH.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleConnectionFailure
from ansible_collections.community.docker.plugins.connection.nsenter import (
    Connection as NsenterConnection,
)

DOCUMENTATION = r"""
name: postwright_nsenter
short_description: run tasks in a Postwright lab host's namespaces, modules piped to Python
description:
  - community.docker.nsenter with pipelining, for the hosts of C(postwright lab).
author: Postwright
extends_documentation_fragment:
  - ansible.builtin.connection_pipelining
options:
  nsenter_pid:
    description: The PID whose namespaces tasks enter (the lab host's init).
    type: int
    required: true
    vars:
      - name: ansible_nsenter_pid
  pipelining:
    default: true
"""


class Connection(NsenterConnection):
    transport = "postwright_nsenter"
    has_pipelining = True

    def _connect(self) -> Connection:
        # A host that is down must be UNREACHABLE, not a module whose output is nsenter's
        # complaint (which is what a piped module run would report).
        pid = self.get_option("nsenter_pid")
        if not os.path.exists(f"/proc/{pid}/ns/mnt"):
            raise AnsibleConnectionFailure(
                f"no process {pid} to enter: the lab host is not running (postwright lab up)")
        return super()._connect()
