"""A stand-in for one cameogate process in the policy-switch test: it holds a policy, listens, and
prints each version it switches to. Run: python -m tests.policies.listener_probe DB_URL"""

from __future__ import annotations

import sys
import time

from policies.lifecycle import PolicyListener
from policies.service import PolicyHolder, parse


def main(url: str) -> int:
    holder = PolicyHolder(parse('version: "probe-boot"\n'))
    listener = PolicyListener(url, holder, poll_seconds=600, on_change=lambda p: print(p.version, flush=True))
    listener.start()
    if not listener.listening.wait(20):
        return 1
    print("listening", flush=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not sys.stdin.closed:
        if sys.stdin.readline() == "":  # the test closed our stdin: stop
            break
    listener.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
