"""The fake Windows host (`tests.winrm_server`) in a process of its own, for bench.winrm_fanout,
so that its CPU is counted as the host's and not the client's. Serves the NTLM-over-HTTP
listener (every message sealed, as Windows requires), prints one JSON line with its port, and
stops when its standard input closes."""

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
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="orca-bench-winrm-"))
    server = WinRMServer(directory).start((LISTENER,))
    try:
        server.add_user(args.user, args.password)
        print(json.dumps({"port": server.port(LISTENER)}), flush=True)
        sys.stdin.read()  # until the benchmark closes it (or ends)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
