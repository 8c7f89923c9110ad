"""Register the key conventions (pattern -> TTL and purpose) in the hash `keyspace:conventions`.

The app and `examples/scheduling/seed.py` read TTLs from here, so changing a TTL is a migration.
"""

CONVENTIONS = {
    "cache:schedules:{schedule_id}": ("300", "a published schedule with its games, JSON"),
    "cache:teams:{team_id}": ("3600", "a team with its venue, JSON"),
    "session:user:{session_id}": ("86400", "a signed-in user's session, hash"),
    "session:api:{key_id}": ("2592000", "an API key's session and rate-limit counters, hash"),
    "live:updates:{game_id}": ("21600", "score and status changes of a live game, stream"),
    "live:notifications:{user_id}": ("604800", "a user's undelivered notifications, list"),
}


def up(ctx):
    for pattern, (ttl, purpose) in CONVENTIONS.items():
        ctx.execute(("HSET", "keyspace:conventions", pattern, f"{ttl} {purpose}"))


def down(ctx):
    ctx.execute(("DEL", "keyspace:conventions"))
