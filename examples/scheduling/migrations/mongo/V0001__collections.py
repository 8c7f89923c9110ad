"""The document collections of the scheduling app, each with a $jsonSchema validator.

`set_validator` creates a missing collection with its validator, leaves an identical one alone,
and before tightening an existing one reports how many documents would not conform.
"""

from dbplex_mongo.schema import set_validator

DATE = {"bsonType": "date"}
TEXT = {"bsonType": "string", "minLength": 1}
ID = {"bsonType": ["int", "long"]}

SCHEMAS = {
    # schedules whose shape changes with the generator that made them (drafts, what-ifs)
    "schedules_flexible": {
        "bsonType": "object",
        "required": ["schedule_key", "season", "version", "created_at"],
        "properties": {
            "schedule_key": TEXT,
            "season": TEXT,
            "version": {"bsonType": "int", "minimum": 1},
            "rounds": {"bsonType": "array"},
            "generator": {"bsonType": "object"},
            "created_at": DATE,
        },
    },
    "analytics_data": {
        "bsonType": "object",
        "required": ["metric", "at", "value"],
        "properties": {
            "metric": TEXT,
            "at": DATE,
            "value": {"bsonType": ["double", "int", "long"]},
            "team_id": ID,
            "dims": {"bsonType": "object"},
        },
    },
    "logs": {
        "bsonType": "object",
        "required": ["level", "message", "at"],
        "properties": {
            "level": {"enum": ["debug", "info", "warning", "error"]},
            "message": {"bsonType": "string"},
            "at": DATE,
            "context": {"bsonType": "object"},
        },
    },
    "system_config": {
        "bsonType": "object",
        "required": ["_id", "value", "updated_at"],
        "properties": {"_id": TEXT, "updated_at": DATE, "updated_by": ID},
    },
    "user_preferences": {
        "bsonType": "object",
        "required": ["user_id"],
        "properties": {
            "user_id": ID,
            "timezone": TEXT,
            "favourite_teams": {"bsonType": "array", "items": ID},
            "notifications": {
                "bsonType": "object",
                "properties": {"email": {"bsonType": "bool"}, "push": {"bsonType": "bool"}},
            },
        },
    },
    "notion_sync": {
        "bsonType": "object",
        "required": ["notion_page_id", "entity", "entity_id", "status"],
        "properties": {
            "notion_page_id": TEXT,
            "entity": {"enum": ["schedule", "game", "team", "report"]},
            "entity_id": ID,
            "status": {"enum": ["pending", "synced", "failed"]},
            "last_synced_at": DATE,
            "error": {"bsonType": ["string", "null"]},
        },
    },
    "calendar_events": {
        "bsonType": "object",
        "required": ["game_id", "title", "starts_at", "ends_at"],
        "properties": {
            "game_id": ID,
            "schedule_id": ID,
            "title": TEXT,
            "starts_at": DATE,
            "ends_at": DATE,
            "venue": {"bsonType": "object"},
            "team_ids": {"bsonType": "array", "items": ID},
        },
    },
}


def up(ctx):
    for name, schema in SCHEMAS.items():
        set_validator(ctx, name, schema, level="strict", action="error")


def down(ctx):
    for name in reversed(list(SCHEMAS)):
        ctx.execute({"drop": name})
