"""The ``dbplex`` command line."""
