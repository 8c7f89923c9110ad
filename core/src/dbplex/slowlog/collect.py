"""``dbplex slowlog``'s merge: each source's server-side slow log, slowest first, with notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbplex.errors import DbplexError, UnsupportedError
from dbplex.secrets import logger, scrub
from dbplex.slowlog.model import SlowEntry, SlowNote, SlowReport

if TYPE_CHECKING:
    from dbplex.hub import Hub

log = logger("dbplex.slow")


def collect(hub: Hub, sources: list[str] | None = None, limit: int = 20) -> SlowReport:
    """Up to ``limit`` entries of each source's server-side slow log (default: every source),
    merged slowest first, with the client-side entries of ``hub`` itself.

    A source whose server keeps no slow log as configured, or whose backend has none, gives an
    ``info`` note saying so; one that fails to answer gives an ``error`` note. Unknown source
    names raise :class:`~dbplex.errors.ConfigError` before anything is read.
    """
    names = sources if sources else list(hub.sources)
    for name in names:
        hub.backend(name)  # an unknown name fails here, naming the configured ones
    entries: list[SlowEntry] = [e for e in hub.slow_operations() if e.source in names]
    notes: list[SlowNote] = []
    for name in names:
        try:
            entries += hub.slowlog(name).entries(limit, hub.sources[name].config.slow.redact)
        except UnsupportedError as exc:  # SlowLogUnavailable, or a backend without the hook
            log.info("%s", exc)
            notes.append(SlowNote(source=name, level="info", message=scrub(str(exc))))
        except DbplexError as exc:
            notes.append(SlowNote(source=name, level="error", message=scrub(str(exc))))
        except Exception as exc:  # a driver error no plugin translated: one source's failure, reported
            notes.append(SlowNote(source=name, level="error", message=scrub(f"{type(exc).__name__}: {exc}")))
    entries.sort(key=lambda e: e.duration_ms, reverse=True)
    return SlowReport(entries=entries, notes=notes)
