"""Pruning the change feed against real servers: what goes, what a reader still receives, and a
reader resuming from before the prune refused rather than silently skipping changes."""

from __future__ import annotations

from typing import Any

import pytest

from dbplex.changes import Change
from dbplex.errors import ChangesPruned, ConfigError, UnsupportedError
from tests.watch.conftest import Watched
from tests.watch.test_feed import GIVE_UP, _written


def _recorded(watched: Watched) -> tuple[str, Change, Change, Change]:
    """The position before three changes (insert, update, delete), and the changes."""
    if watched.source == "mongo":
        pytest.skip("MongoDB's change streams are the server's oplog: nothing of dbplex's to prune (tested below)")
    before, (insert, update, delete) = _written(watched)
    return before, insert, update, delete


def _prune(watched: Watched, before: str) -> int:
    feed = watched.hub.change_feed(watched.source)
    try:
        return feed.prune([watched.table], before)
    finally:
        feed.close()


def test_pruning_deletes_the_changes_up_to_the_position_and_a_reader_after_it_gets_the_rest(watched: Watched) -> None:
    _start, insert, update, delete = _recorded(watched)
    assert _prune(watched, insert.position) == 1
    with watched.hub.watch(watched.source, watched.table, after=insert.position, timeout=GIVE_UP, count=2) as rest:
        resumed = list(rest)
    assert [(c.op, c.position) for c in resumed] == [("update", update.position), ("delete", delete.position)]
    assert _prune(watched, delete.position) == 2  # the insert went with the first prune: exactly these two
    assert _prune(watched, delete.position) == 0


def test_resuming_from_before_a_prune_is_refused_naming_it(watched: Watched) -> None:
    start, insert, update, _delete = _recorded(watched)
    _prune(watched, update.position)
    for stale in (start, insert.position):
        with pytest.raises(ChangesPruned, match=rf"'{watched.table}' up to .* were pruned, so resuming after"):
            watched.hub.watch(watched.source, watched.table, after=stale, timeout=0.1)
    with watched.hub.watch(watched.source, watched.table, after=update.position, timeout=GIVE_UP, count=1) as rest:
        assert [c.op for c in rest] == ["delete"]
    with watched.hub.watch(watched.source, watched.table, timeout=0.1) as from_now:
        assert list(from_now) == []


def test_a_prune_that_does_not_pass_an_earlier_one_is_refused(watched: Watched) -> None:
    _start, insert, update, _delete = _recorded(watched)
    _prune(watched, update.position)
    with pytest.raises(ConfigError, match=r"was pruned up to .* already"):
        _prune(watched, insert.position)
    with watched.hub.watch(watched.source, watched.table, after=update.position, timeout=GIVE_UP, count=1) as rest:
        assert [c.op for c in rest] == ["delete"]


def test_mongodb_has_nothing_to_prune(open_hub: Any) -> None:
    feed = open_hub("mongo").change_feed("mongo")
    with pytest.raises(UnsupportedError, match=r"the server's oplog, which the server trims itself"):
        feed.prune(["anything"], "token")
