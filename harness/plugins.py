"""The plugin manager: entry-point loading, local ``-p`` modules, listing and load errors.

Built-in plugins are entry points of the ``vecbench`` group in vecbench's own distribution,
so they load through exactly the same code as third-party ones. Entry points are loaded one
at a time: a plugin that fails to import or to register is kept as a :class:`PluginStatus`
with its error and every other plugin still loads (pluggy's own loader stops at the first).

Environment:
- ``VECBENCH_DISABLE_PLUGINS``: comma-separated plugin names not to load.
- ``VECBENCH_PLUGINS``: comma-separated extra modules to load (same as ``-p``).
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from harness import hookspecs
from harness.registry import Registry
from harness.types import (
    AttackInfo,
    BitmapInfo,
    ClustererInfo,
    DatasetInfo,
    ExecutorInfo,
    IndexInfo,
    MeasureInfo,
    MetricInfo,
    TaskInfo,
)

GROUP = "vecbench"
DISABLE_ENV = "VECBENCH_DISABLE_PLUGINS"
EXTRA_ENV = "VECBENCH_PLUGINS"


def _source_tree_plugins() -> list[tuple[str, str]]:
    """Built-in plugins of a source tree that was never installed (no entry points): read
    from the ``vecbench`` entry-point table of its pyproject.toml, the one list of them."""
    import tomllib

    path = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        table = tomllib.loads(path.read_text())["project"]["entry-points"][GROUP]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return []
    return list(table.items())


HOOKS = ("register_indexes", "register_metrics", "register_datasets", "register_measures",
         "register_attacks", "register_tasks", "register_clusterers", "register_executors",
         "register_bitmaps")


@dataclass
class PluginStatus:
    """One plugin as ``vecbench plugins`` shows it."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "module": self.module, "distribution": self.distribution,
            "version": self.version, "hooks": self.hooks, "provides": self.provides,
            "unavailable": self.unavailable, "error": self.error,
        }


class PluginHost:
    """A pluggy manager plus the registry built from its hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.status: dict[str, PluginStatus] = {}
        self.registry = Registry()

    # ------------------------------------------------------------------ loading
    def load_module(self, name: str, module_name: str, distribution: str | None = None,
                    version: str | None = None,
                    loader: Callable[[], ModuleType] | None = None) -> PluginStatus:
        """Import and register one plugin module; failures are recorded, never raised."""
        status = PluginStatus(name=name, module=module_name, distribution=distribution,
                              version=version)
        self.status[name] = status
        try:
            module = loader() if loader else _import(module_name)
            self.pm.register(module, name=name)
        except Exception as exc:  # a broken plugin must not break the others
            status.error = _describe(exc)
            return status
        status.hooks = sorted(
            h.name for h in self.pm.get_hookcallers(module) or [] if h.name in HOOKS)
        if status.version is None:
            status.version = getattr(module, "__version__", None)
        return status

    def load_entry_points(self, disabled: Iterable[str] = ()) -> None:
        """Load every entry point of the ``vecbench`` group, one at a time."""
        disabled = set(disabled)
        eps = md.entry_points(group=GROUP)
        if not eps:
            for name, module in _source_tree_plugins():
                if name not in disabled:
                    self.load_module(name, module, "vecbench", _own_version())
            return
        for ep in sorted(eps, key=lambda e: (e.dist.name if e.dist else "", e.name)):
            if ep.name in disabled or ep.name in self.status:
                continue
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            self.load_module(ep.name, ep.value, dist, version, loader=ep.load)

    # ------------------------------------------------------------------ registration
    def build_registry(self) -> Registry:
        """Call every registration hook, plugin by plugin, and fill the registry."""
        reg = Registry()
        adders: dict[str, Callable[[Any, str], None]] = {
            "register_indexes": lambda info, who: _add(reg, "index", info, who, IndexInfo),
            "register_metrics": lambda info, who: _add(reg, "metric", info, who, MetricInfo),
            "register_datasets": lambda info, who: _add(reg, "dataset", info, who, DatasetInfo),
            "register_measures": lambda info, who: _add(reg, "measure", info, who, MeasureInfo),
            "register_attacks": lambda info, who: _add(reg, "attack", info, who, AttackInfo),
            "register_tasks": lambda info, who: _add(reg, "task", info, who, TaskInfo),
            "register_executors": lambda info, who: _add(reg, "executor", info, who,
                                                         ExecutorInfo),
            "register_clusterers": lambda info, who: _add(reg, "clusterer", info, who,
                                                          ClustererInfo),
            "register_bitmaps": lambda info, who: _add(reg, "bitmap", info, who, BitmapInfo),
        }
        for hook_name in HOOKS:
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                who = impl.plugin_name
                try:
                    impl.function(register=lambda info, who=who, h=hook_name:
                                  adders[h](info, who))
                except Exception as exc:
                    status = self.status.setdefault(who, PluginStatus(who, who))
                    msg = f"{hook_name}: {_describe(exc)}"
                    status.error = f"{status.error}; {msg}" if status.error else msg
        for name, status in self.status.items():
            status.provides = reg.provided_by(name)
            for _, entry in reg.indexes:
                if entry.provider == name:
                    missing = entry.info.missing_requirements()
                    if missing:
                        hint = entry.info.install_hint or f"pip install {' '.join(missing)}"
                        status.unavailable[entry.info.name] = (
                            f"missing {', '.join(missing)}; install with: {hint}")
        self.registry = reg
        return reg


def _add(reg: Registry, kind: str, info: Any, provider: str, cls: type) -> None:
    if not isinstance(info, cls):
        raise TypeError(f"register() for {kind}s takes a {cls.__name__}, got {type(info)}")
    table = reg.table(kind)
    pattern = getattr(info, "pattern", None)
    if pattern:
        table.add_family(pattern, info, provider)
    else:
        table.add(info.name, info, provider, tuple(getattr(info, "aliases", ())))


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _import(module_name: str) -> ModuleType:
    """Import a dotted module name, or a ``.py`` file path."""
    path = Path(module_name)
    if module_name.endswith(".py") and path.exists():
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load plugin file {module_name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(module_name)


def _own_version() -> str:
    from harness import __version__

    return __version__


_HOST: PluginHost | None = None
_HOST_KEY: tuple[Any, ...] | None = None


def get_host(extra_modules: Iterable[str] = (), *, reload: bool = False) -> PluginHost:
    """The process-wide plugin host, loaded once (``reload=True`` loads afresh).

    :param extra_modules: local plugin modules (``-p MODULE``) to load besides entry points.
    """
    global _HOST, _HOST_KEY
    extras = [m for m in (*extra_modules, *_split(os.environ.get(EXTRA_ENV, ""))) if m]
    disabled = _split(os.environ.get(DISABLE_ENV, ""))
    key = (tuple(extras), tuple(disabled))
    if _HOST is not None and not reload and key == _HOST_KEY:
        return _HOST
    host = PluginHost()
    host.load_entry_points(disabled)
    for module in extras:
        name = Path(module).stem if module.endswith(".py") else module
        if name not in disabled:
            host.load_module(name, module)
    host.build_registry()
    _HOST, _HOST_KEY = host, key
    return host


def get_registry(extra_modules: Iterable[str] = ()) -> Registry:
    """The registry of every loaded plugin."""
    return get_host(extra_modules).registry


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
