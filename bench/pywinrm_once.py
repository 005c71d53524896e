"""One pywinrm fan-out, run in its own process by bench.winrm_fanout: `count` threads, each a
`winrm.Session(...).run_cmd("echo", ["hello"])` over NTLM with message encryption, as a script
using pywinrm directly would do it. Prints one JSON line; timed after the imports."""

from __future__ import annotations

import argparse
import json
import resource
import time
from concurrent.futures import ThreadPoolExecutor

import winrm


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}/wsman"

    def one(_: int) -> bool:
        session = winrm.Session(url, auth=(args.user, args.password), transport="ntlm")
        result = session.run_cmd("echo", ["hello"])
        return result.status_code == 0 and result.std_out.strip() == b"hello"

    cpu0, started = _cpu(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.count) as pool:
        ok = sum(pool.map(one, range(args.count)))
    wall, cpu = time.perf_counter() - started, _cpu() - cpu0
    print(json.dumps({"ok": ok, "wall": wall, "cpu": cpu}))


if __name__ == "__main__":
    main()
