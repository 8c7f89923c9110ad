"""Run each source's analyzer and gather what it found, source by source.

A source whose backend has no analyzer is said so, not an error; a source that fails with a
:class:`~dbplex.errors.DbplexError` (down, refused, a statistics view it may not read) is reported
with its error while the others are still analysed. Anything else is a bug of the analyzer and
stops the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec

from dbplex.analyze.model import Finding, Severity
from dbplex.config import AnalyzeSourceConfig
from dbplex.errors import DbplexError, UnsupportedError
from dbplex.secrets import scrub

if TYPE_CHECKING:
    from dbplex.hub import Hub

#: what a source without an ``[analyze.SOURCE]`` table is analysed with.
_DEFAULTS = AnalyzeSourceConfig()

#: severities from least to most, for "at or above" comparisons.
ORDER = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)


class SourceAnalysis(msgspec.Struct, kw_only=True):
    """What ``dbplex analyze`` learnt of one source."""

    source: str
    backend: str
    #: ``analyzed``; ``no analyzer`` when the backend's plugin has none; ``failed`` (see ``error``).
    status: Literal["analyzed", "no analyzer", "failed"]
    error: str | None = None
    findings: list[Finding] = []


def at_least(severity: Severity, floor: Severity) -> bool:
    return ORDER.index(severity) >= ORDER.index(floor)


def analyze(hub: Hub, sources: list[str] | None = None) -> list[SourceAnalysis]:
    """The findings of each of ``sources`` (default: every configured source), most severe first.

    An unknown source name raises :class:`~dbplex.errors.ConfigError` before any is analysed.
    """
    names = sources if sources is not None else list(hub.sources)
    backends = {name: hub.backend(name).name for name in names}  # unknown names fail here, first
    cached = _cache_findings(hub)
    return [_one(hub, name, backends[name], [f for f in cached if f.source == name]) for name in names]


def _cache_findings(hub: Hub) -> list[Finding]:
    """The read-through cache's findings (about the cached sources), read from its store."""
    if hub.cache is None:
        return []
    from dbplex.cache.findings import cache_findings

    try:
        return cache_findings(hub)
    except DbplexError as exc:
        store = hub.config.cache.store or "?"
        return [
            Finding(
                source=source,
                code="cache.stats_unavailable",
                severity=Severity.INFO,
                subject=f"cache store {store}",
                summary=f"the read-through cache's counts could not be read: {scrub(str(exc))}",
                action=f"check that the store source {store!r} is reachable",
            )
            for source in sorted(hub.cache.sources)
        ]


def _one(hub: Hub, name: str, backend: str, cached: list[Finding]) -> SourceAnalysis:
    """One source's analysis; ``cached`` are the read-through cache's findings about it."""
    try:
        analyzer = hub.analyzer(name)
    except UnsupportedError:
        status: Literal["analyzed", "no analyzer"] = "no analyzer"
        found = list(cached)
    else:
        try:
            found = analyzer.findings(hub.config.analyze.get(name, _DEFAULTS)) + cached
        except DbplexError as exc:
            return SourceAnalysis(source=name, backend=backend, status="failed", error=scrub(str(exc)))
        status = "analyzed"
    found.sort(key=lambda f: (-ORDER.index(f.severity), f.code, f.subject))
    return SourceAnalysis(source=name, backend=backend, status=status, findings=found)
