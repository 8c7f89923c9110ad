"""Slow operations: those of the application's own hub, and those each server keeps.

Client side, a source with ``[sources.X.slow] threshold_ms`` has every operation timed by a
``dbplex_query`` wrapper (:class:`~dbplex.slowlog.recorder.SlowPlugin`, registered by the hub
only then); one at or over the threshold is logged on ``dbplex.slow`` and kept in
``hub.slow_operations()``, shown without parameter values unless ``redact = false``
(:mod:`dbplex.slowlog.redact`). Server side, a backend's ``dbplex_slowlog`` hook reads what the
database keeps (``pg_stat_statements``, the MongoDB profiler, Redis ``SLOWLOG``), which
``dbplex slowlog`` merges across sources (:func:`~dbplex.slowlog.collect.collect`).
"""

from dbplex.slowlog.model import SlowEntry, SlowLog, SlowLogUnavailable, SlowNote, SlowReport

__all__ = ["SlowEntry", "SlowLog", "SlowLogUnavailable", "SlowNote", "SlowReport"]
