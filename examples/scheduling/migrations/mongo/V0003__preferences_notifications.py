"""Reshape: early user_preferences kept `email_alerts` at the top level; it moves into `notifications.email`.

Runs in batches, so it can be interrupted and run again (documents already moved no longer match).
"""

from dbplex_mongo.schema import rename_field


def up(ctx):
    rename_field(ctx, "user_preferences", "email_alerts", "notifications.email", batch_size=1000)


def down(ctx):
    rename_field(ctx, "user_preferences", "notifications.email", "email_alerts", batch_size=1000)
