"""`picops local run --faults SPEC`: parsing, seeded draws, reordering rules, injected AWS errors."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from picops.errors import UsageError
from picops.local.faults import Faults, InjectedError, batch_key, parse_faults


def test_the_documented_spec_parses() -> None:
    spec = parse_faults(
        "duplicate=0.1, crash=0.05,throttle=0.05,reorder=0.5,slow=0.2:50,"
        "error=dynamodb.TransactWriteItems:0.1:TransactionCanceledException",
        seed=7,
    )
    assert dict(spec.rates) == {
        "duplicate": 0.1,
        "crash": 0.05,
        "throttle": 0.05,
        "reorder": 0.5,
        "slow": 0.2,
    }
    assert spec.slow_ms == 50
    assert spec.errors == (
        InjectedError("dynamodb", "TransactWriteItems", 0.1, "TransactionCanceledException"),
    )
    assert spec.seed == 7
    assert spec.active
    assert not parse_faults("").active


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("dupe=0.1", "unknown fault 'dupe'"),
        ("crash=1.5", "a rate is a number from 0 to 1"),
        ("crash", "name=value"),
        ("error=dynamodb:0.1", "SERVICE.Operation:RATE"),
        ("slow=0.1:fast", "whole milliseconds"),
    ],
)
def test_a_wrong_spec_is_the_users_error_naming_the_part(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        parse_faults(text)


def test_draws_replay_with_the_seed_and_follow_the_rate() -> None:
    keys = [f"batch-{i}" for i in range(2000)]
    first = Faults(parse_faults("crash=0.1", seed=7))
    again = Faults(parse_faults("crash=0.1", seed=7))
    other = Faults(parse_faults("crash=0.1", seed=8))
    hits = [first.chance("crash", k) for k in keys]
    assert hits == [again.chance("crash", k) for k in keys]
    assert hits != [other.chance("crash", k) for k in keys]
    assert 140 <= sum(hits) <= 260
    assert first.as_dict()["crash"] == sum(hits)


def _record(body: str, group: str = "", count: str = "1") -> dict[str, Any]:
    return {"body": body, "attributes": {"MessageGroupId": group, "ApproximateReceiveCount": count}}


def test_a_batch_key_is_its_bodies_and_receive_counts() -> None:
    assert batch_key([_record("a"), _record("b")]) == batch_key([_record("a"), _record("b")])
    assert batch_key([_record("a")]) != batch_key([_record("a", count="2")])


def test_fifo_reordering_moves_groups_never_messages_within_one() -> None:
    faults = Faults(parse_faults("reorder=1", seed=3))
    records = [_record(f"{g}{i}", g) for i in range(3) for g in "abcd"]
    moved = 0
    for n in range(20):
        out = faults.reorder(records, f"k{n}", fifo=True)
        assert sorted(r["body"] for r in out) == sorted(r["body"] for r in records)
        for g in "abcd":
            assert [r["body"] for r in out if r["body"][0] == g] == [f"{g}{i}" for i in range(3)]
        moved += [r["body"] for r in out] != [r["body"] for r in records]
    assert moved > 0


def test_injected_errors_reach_only_a_handlers_calls_inside_a_batch(aws: Any) -> None:
    faults = Faults(parse_faults("error=sqs.ListQueues:1:ServiceUnavailable"))
    sqs = aws.client("sqs")
    faults.install(sqs, None)
    # Outside a batch (the runtime's own calls): the real call.
    assert sqs.list_queues()["ResponseMetadata"]["HTTPStatusCode"] == 200
    with faults.invocation("k"), pytest.raises(botocore.exceptions.ClientError) as caught:
        sqs.list_queues()
    assert caught.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert faults.as_dict()["error:sqs.ListQueues"] == 1
