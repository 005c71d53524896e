"""The fan-out plot: median wall seconds against N for each tool, from a bench.fanout result.

python -m bench.plot [bench/results/fanout-latest.json] [--out docs/benchmarks-fanout.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here
import matplotlib.pyplot as plt

from bench.common import RESULTS, log

LABELS = {
    "orca-cold": "Orca, cold (new connections)",
    "orca-warm": "Orca, warm (pooled connections)",
    "openssh": "OpenSSH, xargs -P N (default key exchange)",
    "openssh-c25519": "OpenSSH, xargs -P N (curve25519)",
    "pssh": "parallel-ssh (libssh2)",
    "ansible": "Ansible -m raw, cold",
    "ansible-warm": "Ansible -m raw, ControlPersist warm",
}
STYLES = {
    "orca-cold": ("#0b6e99", "o", "-"),
    "orca-warm": ("#0b6e99", "s", "--"),
    "openssh": ("#444444", "^", "-"),
    "openssh-c25519": ("#444444", "v", "--"),
    "pssh": ("#7a4fb5", "D", "-"),
    "ansible": ("#c0392b", "x", "-"),
    "ansible-warm": ("#c0392b", "+", "--"),
}


def plot(result: dict[str, object], out: Path) -> None:
    by_size: dict[str, dict[str, dict[str, dict[str, float]]]] = result["by_size"]  # type: ignore[assignment]
    sizes = sorted(int(size) for size in by_size)
    tools = list(next(iter(by_size.values()))["tools"])
    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    for tool in tools:
        walls = [by_size[str(size)]["tools"][tool]["wall"] for size in sizes]
        color, marker, line = STYLES.get(tool, ("#999999", ".", ":"))
        axes.plot(
            sizes, walls, marker=marker, linestyle=line, color=color, label=LABELS.get(tool, tool)
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(sizes, [str(size) for size in sizes])
    axes.set_xlabel("hosts (real sshd on loopback)")
    axes.set_ylabel("wall seconds, median (log scale)")
    runs = result.get("runs")
    axes.set_title(f"echo hello to N hosts, 2 cores, median of {runs} runs")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    log(f"plot in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("result", nargs="?", default=str(RESULTS / "fanout-latest.json"))
    parser.add_argument("--out", default=str(RESULTS / "fanout.png"))
    args = parser.parse_args()
    plot(json.loads(Path(args.result).read_text()), Path(args.out))


if __name__ == "__main__":
    main()
