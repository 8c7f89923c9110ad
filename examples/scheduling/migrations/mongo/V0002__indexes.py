"""Indexes, reconciled by name: missing ones are built, changed ones rebuilt, the rest left alone."""

from dbplex_mongo.schema import Index, reconcile_indexes

INDEXES = {
    "schedules_flexible": [
        Index("schedule_version", [("schedule_key", 1), ("version", -1)], unique=True),
        Index("season", [("season", 1)]),
    ],
    "analytics_data": [
        Index("metric_time", [("metric", 1), ("at", -1)]),
        Index("team_time", [("team_id", 1), ("at", -1)], sparse=True),
    ],
    "logs": [
        Index("expire_after_30_days", [("at", 1)], expire_after_seconds=30 * 86400),
        Index("level_time", [("level", 1), ("at", -1)]),
    ],
    "user_preferences": [Index("user", [("user_id", 1)], unique=True)],
    "notion_sync": [
        Index("page", [("notion_page_id", 1)], unique=True),
        Index("status_time", [("status", 1), ("last_synced_at", 1)]),
    ],
    "calendar_events": [
        Index("game", [("game_id", 1)], unique=True),
        Index("starts_at", [("starts_at", 1)]),
        Index("teams_time", [("team_ids", 1), ("starts_at", 1)]),
    ],
}


def up(ctx):
    for collection, indexes in INDEXES.items():
        reconcile_indexes(ctx, collection, indexes)


def down(ctx):
    for collection, indexes in INDEXES.items():
        for index in indexes:
            ctx.execute({"dropIndexes": collection, "index": index.name})
