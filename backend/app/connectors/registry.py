"""Connectors are found through the entry-point group `orca.connectors`, so a third party adds
one with a pip package; the built-in ones register the same way (see pyproject.toml)."""

from __future__ import annotations

import functools
import logging
from importlib.metadata import entry_points
from typing import Any

from app.connectors.base import Connector

GROUP = "orca.connectors"
log = logging.getLogger("orca.connectors")


class UnknownConnector(LookupError):
    def __init__(self, name: str, installed: list[str]) -> None:
        super().__init__(
            f"no connector named {name!r}; installed: {', '.join(installed) or 'none'}"
        )
        self.name = name
        self.installed = installed


@functools.cache
def available() -> dict[str, type[Connector]]:
    """Every installed connector class by name (loaded once per process). A plugin that fails
    to import is left out and logged, rather than taking every connector down with it."""
    found: dict[str, type[Connector]] = {}
    for entry in entry_points(group=GROUP):
        try:
            cls = entry.load()
        except Exception:  # a broken plugin must not stop the others
            log.exception("connector %r could not be loaded from %s", entry.name, entry.value)
            continue
        if not isinstance(cls, type) or not all(
            hasattr(cls, attribute)
            for attribute in ("name", "options_schema", "shells", "check", "execute", "close")
        ):
            log.error("connector %r (%s) does not implement the protocol", entry.name, entry.value)
            continue
        found[entry.name] = cls
    return found


def get(name: str) -> type[Connector]:
    connectors = available()
    if name not in connectors:
        raise UnknownConnector(name, sorted(connectors))
    return connectors[name]


class Connectors:
    """One instance of each connector per process, made on first use (each holds a pool of
    connections and threads), closed together at shutdown."""

    def __init__(self, config: dict[str, dict[str, Any]] | None = None) -> None:
        self._instances: dict[str, Connector] = {}
        # Keyword arguments for a connector's constructor, by name (from the settings).
        self._config = config or {}

    @classmethod
    def from_settings(cls, settings: Any) -> Connectors:
        return cls({"local": {"run_as": settings.local_run_as}})

    def get(self, name: str) -> Connector:
        if name not in self._instances:
            self._instances[name] = get(name)(**self._config.get(name, {}))
        return self._instances[name]

    def loaded(self) -> dict[str, Connector]:
        """The connectors made so far (metrics read their state without making new ones)."""
        return dict(self._instances)

    async def close(self) -> None:
        instances, self._instances = list(self._instances.values()), {}
        for instance in instances:
            await instance.close()
