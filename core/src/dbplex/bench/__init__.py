"""``dbplex bench``: YCSB-style workloads against dbplex sources and their raw drivers.

The engine is backend-neutral: it speaks to a source through :class:`~dbplex.bench.baseline.Baseline`
(the raw driver, supplied by each backend plugin through the ``dbplex_bench_baseline`` hook) or
through dbplex itself (:mod:`dbplex.bench.client`). Histograms and plots come from the
``dbplex[bench]`` extra (``hdrhistogram``, ``matplotlib``), imported only when a bench command runs.
"""
