"""One parallel-ssh (libssh2) fan-out, run in its own process by bench.fanout; prints one JSON
line. Timed after the imports, as a program that has the library loaded already would be.

parallel-ssh's libssh2 client has no host-key check to turn on: it connects to any key. The
other tools in the comparison verify every host key, so this one does a little less work.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from pssh.clients import ParallelSSHClient
from pssh.config import HostConfig


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--user", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--command", default="echo hello")
    parser.add_argument("ports", nargs="+", type=int)
    args = parser.parse_args()
    configs = [HostConfig(port=port, user=args.user, private_key=args.key) for port in args.ports]
    cpu0, started = _cpu(), time.perf_counter()
    client = ParallelSSHClient(
        ["127.0.0.1"] * len(args.ports),
        host_config=configs,
        pool_size=len(args.ports),
        num_retries=1,
        timeout=120,
    )
    output = client.run_command(args.command)
    client.join(output)
    lines = [list(host.stdout or []) for host in output]
    codes = [host.exit_code for host in output]
    wall, cpu = time.perf_counter() - started, _cpu() - cpu0
    ok = sum(1 for code, out in zip(codes, lines, strict=True) if code == 0 and out == ["hello"])
    print(json.dumps({"wall": wall, "cpu": cpu, "ok": ok}))


if __name__ == "__main__":
    main()
