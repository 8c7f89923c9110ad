"""``dbplex sync``: copy a table into another database's record table, resumably, then check the mirror."""
