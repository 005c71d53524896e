"""The fake Windows host (`tests.winrm_server`) in a process of its own, for bench.winrm_fanout,
so that its CPU is counted as the host's and not the client's. Serves the NTLM-over-HTTP
listener (every message sealed, as Windows requires), prints one JSON line with its port, and
stops when its standard input closes. Its shell quota is raised to the number of systems that
point at it (see below)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from tests.winrm_server import WinRMServer

LISTENER = "ntlm-http"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--count", type=int, required=True, help="systems pointing at this host")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="orca-bench-winrm-"))
    server = WinRMServer(directory).start((LISTENER,))
    try:
        server.add_user(args.user, args.password)
        # Windows allows a user 30 shells per host. Here every system is this one host, where a
        # real fleet has a host (and a quota) per system: the quota would only measure itself.
        server.host.max_shells_per_user = args.count
        print(json.dumps({"port": server.port(LISTENER)}), flush=True)
        sys.stdin.read()  # until the benchmark closes it (or ends)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
