"""The read-through cache (``[cache]``): ``Get`` of chosen tables served from a Redis source,
invalidated by every write through dbplex, in every process. See docs/observability.md."""

from dbplex.cache.readthrough import CacheInvalidationError, ReadThroughCache
from dbplex.cache.stats import CacheStats

__all__ = ["CacheInvalidationError", "CacheStats", "ReadThroughCache"]
