"""Name -> plugin tables. Duplicate names and unknown names are clear errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from harness.errors import DuplicateNameError, UnknownNameError

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    """A registered thing and the plugin that provided it."""

    info: T
    provider: str


@dataclass
class Table(Generic[T]):
    """Registered things of one kind (indexes, metrics, ...)."""

    kind: str
    entries: dict[str, Entry[T]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    families: list[tuple[re.Pattern[str], Entry[T]]] = field(default_factory=list)

    def add(self, name: str, info: T, provider: str, aliases: tuple[str, ...] = ()) -> None:
        """Register ``info`` under ``name`` (and ``aliases``) for ``provider``."""
        for key in (name, *aliases):
            owner = self._owner(key)
            if owner is not None:
                raise DuplicateNameError(
                    f"{self.kind} {key!r} is registered twice: by plugin {owner!r} and by "
                    f"plugin {provider!r}; disable one with VECBENCH_DISABLE_PLUGINS={provider}"
                )
        self.entries[name] = Entry(info, provider)
        for alias in aliases:
            self.aliases[alias] = name

    def add_family(self, pattern: str, info: T, provider: str) -> None:
        """Register a family of names matching the regular expression ``pattern``."""
        self.families.append((re.compile(f"^(?:{pattern})$"), Entry(info, provider)))

    def _owner(self, key: str) -> str | None:
        if key in self.entries:
            return self.entries[key].provider
        if key in self.aliases:
            return self.entries[self.aliases[key]].provider
        return None

    def canonical(self, name: str) -> str:
        return self.aliases.get(name, name)

    def get_entry(self, name: str) -> Entry[T]:
        """The entry for ``name`` (aliases resolved); families are not consulted."""
        key = self.canonical(name)
        if key in self.entries:
            return self.entries[key]
        raise UnknownNameError(self.kind, name, self.names())

    def find_family(self, name: str) -> Entry[T] | None:
        for regex, entry in self.families:
            if regex.match(name):
                return entry
        return None

    def get(self, name: str) -> T:
        return self.get_entry(name).info

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) in self.entries

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __iter__(self) -> Iterator[tuple[str, Entry[T]]]:
        return iter(sorted(self.entries.items()))


class Registry:
    """All tables. Built by :func:`harness.plugins.get_registry`."""

    def __init__(self) -> None:
        self.tables: dict[str, Table[Any]] = {}

    def table(self, kind: str) -> Table[Any]:
        if kind not in self.tables:
            self.tables[kind] = Table(kind)
        return self.tables[kind]

    @property
    def indexes(self) -> Table[Any]:
        return self.table("index")

    @property
    def metrics(self) -> Table[Any]:
        return self.table("metric")

    @property
    def datasets(self) -> Table[Any]:
        return self.table("dataset")

    @property
    def measures(self) -> Table[Any]:
        return self.table("measure")

    @property
    def attacks(self) -> Table[Any]:
        return self.table("attack")

    @property
    def tasks(self) -> Table[Any]:
        return self.table("task")

    @property
    def executors(self) -> Table[Any]:
        return self.table("executor")

    @property
    def clusterers(self) -> Table[Any]:
        return self.table("clusterer")

    @property
    def bitmaps(self) -> Table[Any]:
        return self.table("bitmap")

    def provided_by(self, provider: str) -> dict[str, list[str]]:
        """kind -> names that ``provider`` registered (families shown by their pattern)."""
        out: dict[str, list[str]] = {}
        for kind, table in self.tables.items():
            names = [n for n, e in table.entries.items() if e.provider == provider]
            names += [getattr(e.info, "name", rx.pattern) for rx, e in table.families
                      if e.provider == provider]
            if names:
                out[kind] = sorted(names)
        return out
