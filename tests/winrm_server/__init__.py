"""A WinRM server faithful to the protocol for the operations Orca uses, for tests and
benchmarks (no Windows host exists here). See server.py for the listeners and host.py for how
commands are scripted."""

from tests.winrm_server.host import FakeWindows, Invocation, Stats, Stopped
from tests.winrm_server.server import LISTENERS, WinRMServer

__all__ = ["LISTENERS", "FakeWindows", "Invocation", "Stats", "Stopped", "WinRMServer"]
