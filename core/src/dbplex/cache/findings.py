"""What ``dbplex analyze`` says about the read-through cache: tables whose hit ratio is low."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbplex.analyze.model import Finding, Severity

if TYPE_CHECKING:
    from dbplex.hub import Hub


def cache_findings(hub: Hub) -> list[Finding]:
    """A ``cache.low_hit_ratio`` finding per cached table that served at least ``[cache]
    min_reads`` reads with a hit ratio below ``min_hit_ratio``.

    The counts are every process's, as added up in the store (``analyze`` runs in a process of
    its own, whose counts are empty). No finding when the cache is off.
    """
    cache = hub.cache
    if cache is None:
        return []
    settings = hub.config.cache
    findings = []
    for name, stats in cache.shared_stats().items():
        ratio = stats.hit_ratio
        if ratio is None or stats.reads < settings.min_reads or ratio >= settings.min_hit_ratio:
            continue
        source = name.partition(".")[0]
        findings.append(
            Finding(
                source=source,
                code="cache.low_hit_ratio",
                severity=Severity.WARNING,
                subject=name,
                summary=(
                    f"the read-through cache of {name} served {ratio:.0%} of {stats.reads} reads "
                    f"(below {settings.min_hit_ratio:.0%}); {stats.invalidations} writes invalidated entries"
                ),
                action=(
                    f"raise its ttl ({stats.ttl:g}s) if entries expire before they are read again, or take "
                    "the table out of [cache.tables] if it is written about as often as it is read"
                ),
                evidence={
                    "hits": stats.hits,
                    "misses": stats.misses,
                    "hit_ratio": round(ratio, 4),
                    "fills": stats.fills,
                    "lost_fills": stats.lost,
                    "invalidations": stats.invalidations,
                    "ttl_seconds": stats.ttl,
                    "mean_hit_age_seconds": stats.age_mean,
                },
            )
        )
    return findings
