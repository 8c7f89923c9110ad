"""``dbplex analyze``: findings with evidence and advice, per source, from the databases' statistics."""

from dbplex.analyze.model import Analyzer, Finding, MigrationFile, ProposedIndex, Severity

__all__ = ["Analyzer", "Finding", "MigrationFile", "ProposedIndex", "Severity"]
