"""MongoDB migrations against a real server: history, lease lock, schema helpers."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pymongo
import pytest

from tests.migrate.conftest import Project
from tests.migrate.test_pg import wait_for

SEED = """def up(ctx):
    ctx.conn.teams.insert_many([{"_id": i, "name": f"team {i}"} for i in range(3)])


def down(ctx):
    ctx.execute({"drop": "teams"})
"""


@pytest.fixture
def mongo(project: Any, mongo_url: str) -> Project:
    made: Project = project({"mongo": {"url": mongo_url}})
    return made


@pytest.fixture
def db(mongo_url: str) -> Any:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    yield client.get_default_database()
    client.close()


def stand_in(db: Any) -> bool:
    """True on the nx-27017 wire-protocol stand-in (which lacks some mongod features)."""
    return bool(db.command("buildInfo").get("process") == "nx_27017")


def test_history_is_a_collection_of_the_common_rows(mongo: Project, db: Any) -> None:
    mongo.write({"mongo/V0001__teams.py": SEED})
    assert "db.dbplex_schema_lock.findOneAndUpdate({_id: 'migrate'" in mongo.json("up", "--dry-run")["locks"]["mongo"]
    assert db.list_collection_names() == []  # a dry run creates nothing, not even the history
    assert mongo.cli("up").exit_code == 0
    [doc] = list(db.dbplex_schema_history.find())
    assert doc["_id"] == 1 and doc["version"] == "0001" and doc["status"] == "success" and doc["action"] == "up"
    assert db.teams.count_documents({}) == 3
    assert db.dbplex_schema_lock.count_documents({}) == 0  # released


def test_a_step_failing_half_way_is_recorded_and_the_next_up_continues_after_a_fix(mongo: Project, db: Any) -> None:
    broken = 'def up(ctx):\n    ctx.conn.teams.insert_one({"_id": 100})\n    raise RuntimeError("half way")\n\n\ndef down(ctx):\n    pass\n'
    mongo.write({"mongo/V0001__teams.py": SEED, "mongo/V0002__more.py": broken})
    result = mongo.cli("up")
    assert result.exit_code == 1 and "mongo:V2 failed: RuntimeError: half way (V0002__more.py line 3)" in result.output
    failed = mongo.history("mongo")[-1]
    assert (failed.version, failed.status, failed.error) == (
        "0002",
        "failed",
        "RuntimeError: half way (V0002__more.py line 3)",
    )
    assert db.dbplex_schema_lock.count_documents({}) == 0  # the lock was released
    fixed = 'def up(ctx):\n    ctx.conn.teams.update_one({"_id": 100}, {"$set": {"fixed": True}}, upsert=True)\n\n\ndef down(ctx):\n    pass\n'
    mongo.write({"mongo/V0002__more.py": fixed})
    assert mongo.cli("up").exit_code == 0
    assert [(r.version, r.status) for r in mongo.history("mongo")] == [
        ("0001", "success"),
        ("0002", "failed"),
        ("0002", "success"),
    ]
    assert db.teams.find_one({"_id": 100}) == {"_id": 100, "fixed": True}


def test_a_killed_holder_loses_its_lease_when_it_expires(mongo: Project, tmp_path: Path, db: Any) -> None:
    hangs = 'import os, pathlib, time\n\ndef up(ctx):\n    pathlib.Path(os.environ["DBPLEX_TEST_HANG"]).write_text("x")\n    time.sleep(300)\n\n\ndef down(ctx):\n    pass\n'
    mongo.write({"mongo/V0001__slow.py": hangs})
    marker = tmp_path / "started"
    child = mongo.spawn("up", "--lock-ttl", "2", env={"DBPLEX_TEST_HANG": str(marker)})
    wait_for(marker)
    lease = db.dbplex_schema_lock.find_one({"_id": "migrate"})
    assert lease is not None and "pid" in lease["holder"]
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert db.dbplex_schema_lock.count_documents({}) == 1  # nobody released it: it has to expire
    mongo.write({"mongo/V0001__slow.py": SEED})  # the interrupted migration may be fixed before the retry
    result = mongo.cli("up", "--lock-wait", "30")
    assert result.exit_code == 0, result.output
    rows = mongo.history("mongo")
    assert [r.status for r in rows] == ["failed", "success"] and (rows[0].error or "").startswith("interrupted: run ")


def test_the_lease_is_one_atomic_document(mongo: Project) -> None:
    from dbplex.migrate import LockSettings
    from dbplex.migrate.locking import this_process

    with mongo.open() as one, mongo.open() as two:
        first = one.migrator("mongo").lock(this_process(), LockSettings(ttl=30))
        second = two.migrator("mongo").lock(this_process(), LockSettings(ttl=30))
        assert first.try_acquire() and first.try_acquire()  # re-entrant for its owner
        assert not second.try_acquire() and "lease expires in" in (second.holder() or "")
        assert not second.extend()
        second.release()  # not its lease: nothing happens
        assert first.extend()
        first.release()
        assert second.try_acquire()
        second.release()


def test_set_validator_counts_documents_that_do_not_conform_before_tightening(mongo: Project, db: Any) -> None:
    db.teams.insert_many([{"_id": 1, "name": "Owls"}, {"_id": 2}, {"_id": 3}])
    strict = 'from dbplex_mongo.schema import set_validator\n\nSCHEMA = {"bsonType": "object", "required": ["name"]}\n\ndef up(ctx):\n    set_validator(ctx, "teams", SCHEMA)\n\n\ndef down(ctx):\n    pass\n'
    mongo.write({"mongo/V0001__validate.py": strict})
    plan = mongo.json("plan", "--dry-run")["steps"][0]["commands"]
    assert "-- teams: 2 existing documents do not match the new schema" in plan
    assert any("collection 'teams': 2 documents do not match the new schema" in line for line in plan)
    result = mongo.cli("up")
    assert result.exit_code == 1 and "2 documents do not match the new schema; fix them first" in result.output
    mongo.write(
        {
            "mongo/V0001__validate.py": strict.replace(
                'set_validator(ctx, "teams", SCHEMA)', 'set_validator(ctx, "teams", SCHEMA, level="moderate")'
            )
        }
    )
    assert mongo.cli("up").exit_code == 0
    if stand_in(db):
        pytest.skip(
            "nx-27017 keeps no validator (collMod and listCollections options) and lacks $jsonSchema enforcement"
        )
    options = next(db.list_collections(filter={"name": "teams"}))["options"]
    assert (
        options["validator"] == {"$jsonSchema": {"bsonType": "object", "required": ["name"]}}
        and options["validationLevel"] == "moderate"
    )
    with pytest.raises(pymongo.errors.WriteError):
        db.teams.insert_one({"_id": 9})


def test_set_validator_creates_the_collection_and_leaves_an_identical_validator_alone(mongo: Project, db: Any) -> None:
    if stand_in(db):
        pytest.skip(
            "nx-27017 keeps no validator in listCollections options, so an unchanged validator cannot be recognised"
        )
    helper = 'from dbplex_mongo.schema import set_validator\n\ndef up(ctx):\n    set_validator(ctx, "games", {"bsonType": "object", "required": ["home"]})\n\n\ndef down(ctx):\n    pass\n'
    mongo.write({"mongo/V0001__games.py": helper})
    assert mongo.cli("up").exit_code == 0
    mongo.write({"mongo/R__again.py": helper.replace("\n\ndef down(ctx):\n    pass\n", "\n")})
    assert mongo.json("plan", "--dry-run")["steps"][0]["commands"][1] == "-- games: validator unchanged"
    with pytest.raises(pymongo.errors.WriteError):
        db.games.insert_one({"away": 1})


def test_reconcile_indexes_by_name_and_spec(mongo: Project, db: Any) -> None:
    if stand_in(db):
        pytest.skip("nx-27017 does not keep the index names given to createIndexes")
    db.games.create_index([("home", 1)], name="home_old")
    indexes = 'from dbplex_mongo.schema import Index, reconcile_indexes\n\nWANTED = [Index("home", [("home", 1)]), Index("when", [("at", -1)], expire_after_seconds=60)]\n\ndef up(ctx):\n    reconcile_indexes(ctx, "games", WANTED)\n\n\ndef down(ctx):\n    pass\n'
    mongo.write({"mongo/V0001__indexes.py": indexes})
    commands = mongo.json("plan", "--dry-run")["steps"][0]["commands"]
    assert 'db.runCommand({"dropIndexes": "games", "index": "home_old"})' in commands
    assert mongo.cli("up").exit_code == 0
    assert {ix["name"]: ix.get("expireAfterSeconds") for ix in db.games.list_indexes()} == {
        "_id_": None,
        "home": None,
        "when": 60,
    }
    mongo.write({"mongo/R__indexes.py": indexes.replace("\n\ndef down(ctx):\n    pass\n", "\n").replace("60)", "120)")})
    commands = mongo.json("plan", "--dry-run")["steps"][0]["commands"]
    assert 'db.runCommand({"dropIndexes": "games", "index": "when"})' in commands and "home" not in "".join(
        c for c in commands if "dropIndexes" in c
    )


def test_rename_field_works_in_batches_and_a_dry_run_shows_one(mongo: Project, db: Any) -> None:
    db.prefs.insert_many([{"_id": i, "email_alerts": i % 2 == 0} for i in range(25)] + [{"_id": 99}])
    move = 'from dbplex_mongo.schema import rename_field\n\ndef up(ctx):\n    rename_field(ctx, "prefs", "email_alerts", "notifications.email", batch_size=10)\n\n\ndef down(ctx):\n    rename_field(ctx, "prefs", "notifications.email", "email_alerts", batch_size=10)\n'
    mongo.write({"mongo/V0001__move.py": move})
    commands = mongo.json("plan", "--dry-run")["steps"][0]["commands"]
    assert commands[1] == "-- prefs: 25 documents have 'email_alerts'"
    assert sum("$rename" in c for c in commands) == 1 and "next batches of 10" in commands[-2]
    assert db.prefs.count_documents({"email_alerts": {"$exists": True}}) == 25  # the dry run changed nothing
    report = mongo.json("up")
    assert report["steps"][0]["status"] == "success"
    assert db.prefs.count_documents({"email_alerts": {"$exists": True}}) == 0
    assert db.prefs.count_documents({"notifications.email": True}) == 13
    assert mongo.cli("down").exit_code == 0
    assert db.prefs.count_documents({"email_alerts": {"$exists": True}}) == 25


def test_reshape_replaces_documents_in_id_order(mongo: Project, db: Any) -> None:
    db.games.insert_many([{"_id": i, "score": f"{i}-{i + 1}"} for i in range(7)])
    reshape = 'from dbplex_mongo.schema import reshape\n\ndef split(doc):\n    home, away = doc.pop("score").split("-")\n    return {**doc, "home": int(home), "away": int(away)}\n\ndef up(ctx):\n    reshape(ctx, "games", {"score": {"$exists": True}}, split, batch_size=3)\n\n\ndef down(ctx):\n    pass\n'
    mongo.write({"mongo/V0001__scores.py": reshape})
    assert mongo.cli("up").exit_code == 0
    assert list(db.games.find().sort("_id", 1).limit(2)) == [
        {"_id": 0, "home": 0, "away": 1},
        {"_id": 1, "home": 1, "away": 2},
    ]
    assert db.games.count_documents({"score": {"$exists": True}}) == 0
