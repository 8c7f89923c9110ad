"""Driver values into dbplex values.

pymongo decodes BSON int64 as ``bson.Int64``, an int subclass that remembers its width;
dbplex values are plain ints whatever their size. Rows are fixed up in place, after decoding:
a decoder in the codec options would do the same, but pymongo then decodes every reply
twice (raw, then per document), which costs more than the whole rest of a Get.
"""

from __future__ import annotations

from typing import Any

from bson.int64 import Int64

#: the value types that may need fixing up (dicts and lists only if they hold an Int64).
_FIXABLE = frozenset({Int64, dict, list})


def plain_ints(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (a fresh decoded document) with every Int64 in it, however nested, made an int."""
    if _FIXABLE.isdisjoint(map(type, doc.values())):
        return doc  # a flat document without Int64 (most records): one scan in C, no Python loop
    for key, value in doc.items():
        kind = type(value)
        if kind is Int64:
            doc[key] = int(value)
        elif kind is dict:
            plain_ints(value)
        elif kind is list:
            _plain_list(value)
    return doc


def _plain_list(items: list[Any]) -> None:
    for i, value in enumerate(items):
        kind = type(value)
        if kind is Int64:
            items[i] = int(value)
        elif kind is dict:
            plain_ints(value)
        elif kind is list:
            _plain_list(value)
