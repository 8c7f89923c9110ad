"""Fill cache:teams:* from PostgreSQL, so the first requests after a deploy hit the cache."""

import json

depends_on = ["pg:V0002", "V0001"]

TEAMS = (
    "SELECT t.id, t.code, t.name, t.city, t.division, v.name FROM teams t LEFT JOIN venues v ON v.id = t.home_venue_id"
)


def up(ctx):
    convention = ctx.reader.hget("keyspace:conventions", "cache:teams:{team_id}")  # bytes: "<ttl> <purpose>"
    ttl = int(convention.split()[0]) if convention else 3600
    with ctx.connection("pg") as pg:
        teams = pg.execute(TEAMS).fetchall()
    for team_id, code, name, city, division, venue in teams:
        value = json.dumps(
            {"id": team_id, "code": code, "name": name, "city": city, "division": division, "venue": venue}
        )
        ctx.execute(("SET", f"cache:teams:{team_id}", value, "EX", str(ttl)))
    ctx.note(f"{len(teams)} teams cached")


def down(ctx):
    keys = list(ctx.reader.scan_iter(match="cache:teams:*", count=1000))
    for start in range(0, len(keys), 500):
        ctx.execute(("UNLINK", *keys[start : start + 500]))
