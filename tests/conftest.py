"""Settings for the whole suite.

Hypothesis runs without its per-example deadline: a test here asserts what the code does, never
how fast it does it (performance is measured with ``dbplex bench`` and ``benchmarks/``), and on a
loaded machine an example that merely ran slow would fail as "flaky".
"""

from hypothesis import settings

settings.register_profile("dbplex", deadline=None)
settings.load_profile("dbplex")
