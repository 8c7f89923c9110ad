"""Where a result was measured: Python, machine, load, and the versions of dbplex, plugins, drivers, servers."""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata

from dbplex.bench.results import Environment, Server
from dbplex.hub import Hub

_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return []


def _memory_mb() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def cpus_available() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def driver_versions(package: str) -> dict[str, str]:
    """Installed versions of what ``package`` requires (its driver), dbplex itself left out."""
    try:
        requirements = metadata.requires(package) or []
    except metadata.PackageNotFoundError:
        return {}
    versions = {}
    for requirement in requirements:
        match = _REQUIREMENT_NAME.match(requirement)
        if not match or "extra ==" in requirement:
            continue
        name = match.group()
        if name.lower() == "dbplex":
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def collect(
    hub: Hub, sources: list[str], server_versions: dict[str, str | None], load_before: list[float]
) -> Environment:
    servers = []
    for name in sources:
        source = hub.sources[name]
        backend = hub.backend(name)
        servers.append(
            Server(
                source=name,
                backend=backend.name,
                url=source.redacted_url,
                package=backend.package,
                plugin_version=backend.version,
                server_version=server_versions.get(name),
                drivers=driver_versions(backend.package) if backend.package else {},
            )
        )
    try:
        dbplex_version = metadata.version("dbplex")
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree
        dbplex_version = "0+unknown"
    return Environment(
        dbplex=dbplex_version,
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        platform=platform.platform(),
        machine=platform.machine(),
        cpu_count=os.cpu_count() or 1,
        cpus_available=cpus_available(),
        load_before=load_before,
        load_after=load_average(),
        memory_mb=_memory_mb(),
        servers=servers,
    )
