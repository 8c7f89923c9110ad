"""dbplex's pytest plugin: server fixtures and the backend conformance suite.

Installed with dbplex and loaded by pytest automatically (entry point ``pytest11``). Backend
plugins, ours and third-party ones, subclass :class:`dbplex.testing.conformance.ConformanceSuite`
in their own tests, the way SQLAlchemy dialects run its dialect suite. Its sections live in
``conformance_*`` modules (pools, migrations, partitioning, bench baseline, capabilities) and
are re-exported by :mod:`dbplex.testing.conformance`; :mod:`dbplex.testing.capabilities` is the
one list of what a backend can declare.
"""
