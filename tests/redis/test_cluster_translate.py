"""Pure parts of the cluster backend, without a server: seed URLs, hash slots, the tagged key layout."""

from __future__ import annotations

import pytest
import redis.exceptions

from dbplex.errors import OpError, QueryError
from dbplex_redis.cluster_follow import MAX_TRIES, Follow
from dbplex_redis.cluster_map import Node, SlotMap
from dbplex_redis.cluster_slots import numkeys_keys, one_slot, slot
from dbplex_redis.cluster_url import ClusterUrl, parse
from dbplex_redis.translate import KEYS, TAGGED_KEYS, Keys


def test_seeds_and_the_first_seed_url_keep_credentials_and_options() -> None:
    assert parse(
        "redis+cluster://app:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002/0?ssl_cert_reqs=none"
    ) == ClusterUrl(
        seeds=(("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002)),
        first="redis://app:p%40ss@10.0.0.1:7000/0?ssl_cert_reqs=none",
    )
    assert parse("rediss+cluster://h1,h2:7001") == ClusterUrl(
        seeds=(("h1", 6379), ("h2", 7001)), first="rediss://h1:6379"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://h:1", "expected a URL starting redis\\+cluster:// or rediss\\+cluster://"),
        ("redis+cluster://u:secret@", "names no seed node"),
        ("redis+cluster://h:1,:2", "the 2nd seed has no host"),
        ("redis+cluster://h:99999", "the 1st seed has no valid port"),
        ("redis+cluster://h:1/3", "only database 0; remove '/3'"),
    ],
)
def test_invalid_urls_say_what_is_wrong_without_the_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse(url)
    assert "secret" not in str(caught.value)


#: passwords with every character that ends a URL's host part, unencoded.
NASTY_PASSWORDS = ["s3cr/et", "pa?ss#wo", "a@b/c?d#e", "x:y/z@w", "/?#@", "p%2Fq/r"]


@pytest.mark.parametrize("password", NASTY_PASSWORDS)
def test_an_unencoded_password_stays_the_password_and_out_of_every_error(password: str) -> None:
    from dbplex.secrets import password_of, redact_url

    parsed = parse(f"redis+cluster://app:{password}@h1:7000,h2/0?socket_timeout=1")
    assert parsed.seeds == (("h1", 7000), ("h2", 6379))
    assert password not in repr(parsed)
    url = f"redis+cluster://app:{password}@h1:7000"
    assert redact_url(url) == "redis+cluster://app:***@h1:7000"
    assert password_of(url) == password.replace("%2F", "/")
    for bad in (
        f"app:{password}@h1:70x0",
        f"app:{password}@h1:7000,:1",
        f"app:{password}@h1:7000/4",
        f"app:{password}@",
    ):
        with pytest.raises(ValueError, match="seed|database 0") as caught:
            parse(f"redis+cluster://{bad}")
        message = str(caught.value)
        pieces = {piece for piece in password.replace("%2F", "/").split("/") + password.split("@") if len(piece) > 1}
        assert not any(piece in message for piece in pieces | {password}), (message, pieces)


def test_tagged_keys_put_the_table_in_a_hash_tag_and_plain_keys_stay_as_they_were() -> None:
    tagged = Keys("app:", tagged=True)
    assert (tagged.record("t", "k"), tagged.index("t"), tagged.expiry("t")) == (
        "app:{t}:r:k",
        "app:{t}:keys",
        "app:{t}:ttl",
    )
    assert tagged.records("t") == "app:{t}:r:"
    assert KEYS["app:"].record("t", "k") == "app:t:r:k"
    assert TAGGED_KEYS["app:"].tagged and TAGGED_KEYS["app:"] is TAGGED_KEYS["app:"]
    assert len({slot(tagged.record("t", key)) for key in ("a", "b{x}", "日本")} | {slot(tagged.index("t"))}) == 1


def test_slots_match_redis_for_str_bytes_and_numbers() -> None:
    assert slot("foo") == 12182 and slot(b"foo") == 12182  # CLUSTER KEYSLOT foo
    assert slot("{user1000}.following") == slot("{user1000}.followers")
    assert slot(123) == slot("123")


def test_one_slot_names_the_keys_and_slots_it_refuses() -> None:
    assert one_slot("x", []) is None
    assert one_slot("x", ["{a}1", "{a}2"]) == slot("a")
    with pytest.raises(OpError, match=r"^MSET: its keys map to 2 hash slots \('a' in slot 15495, 'b' in slot 3300\)"):
        one_slot("MSET", ["a", "b", "a"])


def test_keys_of_eval_like_commands_follow_numkeys() -> None:
    assert numkeys_keys(["EVALSHA", "abc", 2, "k1", "k2", "arg"]) == ["k1", "k2"]
    assert numkeys_keys(["fcall", "f", "0"]) == []
    assert numkeys_keys(["GET", "k"]) is None
    with pytest.raises(OpError, match="number of keys"):
        numkeys_keys(["EVAL", "return 1"])


def test_a_moved_reply_outweighs_a_slot_map_that_has_not_caught_up() -> None:
    """The node asked for ``CLUSTER SLOTS`` may still name the old owner after a resharding; the
    node that answered MOVED knows the new one, so the next try goes there."""
    old, new = Node("10.0.0.1", 7000), Node("10.0.0.2", 7000)
    stale = SlotMap(owners=[old] * 16384)
    tries = Follow("c", 42, asking=False)
    assert tries.node(stale) == (old, False)
    assert tries.after(old, redis.exceptions.MovedError("42 10.0.0.2:7000")) is None
    assert tries.node(stale) == (new, False)


def test_spent_tries_name_the_last_redirection() -> None:
    node = Node("10.0.0.1", 7000)
    tries = Follow("c", 42, asking=False)
    for _ in range(MAX_TRIES):
        tries.node(SlotMap(owners=[node] * 16384))
        tries.after(node, redis.exceptions.TryAgainError("Multiple keys request during rehashing of slot"))
    with pytest.raises(QueryError, match=r"each of \d+ tries \(last: 10\.0\.0\.1:7000: .*rehashing"):
        tries.node(SlotMap(owners=[node] * 16384))
