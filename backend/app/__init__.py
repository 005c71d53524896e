"""Orca: run commands and scripts across Linux and Windows fleets."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("orca")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
