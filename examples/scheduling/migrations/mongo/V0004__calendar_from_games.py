"""A data migration across sources: one calendar event per PostgreSQL game.

It reads `pg` (so it depends on the migration that creates games there) and writes this source.
It uses ctx.connection() and ctx.conn directly, so a dry run shows only that it runs Python.
"""

import datetime as dt

from pymongo import UpdateOne

depends_on = ["pg:V0003"]

GAMES = """
SELECT g.id, g.schedule_id, g.starts_at, h.id AS home_id, h.name AS home, a.id AS away_id, a.name AS away,
       v.name AS venue, v.city
FROM games g JOIN teams h ON h.id = g.home_team_id JOIN teams a ON a.id = g.away_team_id JOIN venues v ON v.id = g.venue_id
"""


def up(ctx):
    with ctx.connection("pg") as pg:
        rows = pg.execute(GAMES).fetchall()
    events = ctx.conn["calendar_events"]
    writes = []
    for game_id, schedule_id, starts_at, home_id, home, away_id, away, venue, city in rows:
        event = {
            "schedule_id": schedule_id,
            "title": f"{home} vs {away}",
            "starts_at": starts_at,
            "ends_at": starts_at + dt.timedelta(hours=2),
            "venue": {"name": venue, "city": city},
            "team_ids": [home_id, away_id],
        }
        writes.append(UpdateOne({"game_id": game_id}, {"$set": event}, upsert=True))
    if writes:
        events.bulk_write(writes, ordered=False)
    ctx.note(f"{len(writes)} calendar events from games")


def down(ctx):
    ctx.execute({"delete": "calendar_events", "deletes": [{"q": {}, "limit": 0}]})
