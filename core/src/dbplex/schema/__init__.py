"""Schema alignment across backends: describe a table, collection or key family in a portable
type set, compare two shapes, and propose the migration that aligns the second to the first."""
