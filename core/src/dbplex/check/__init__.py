"""``dbplex check``: data-quality rules, references across sources and mirrors, per source's checker."""
