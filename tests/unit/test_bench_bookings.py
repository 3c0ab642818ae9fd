"""bench/bookings.py's request-equivalents: counted by a botocore hook per call, a TransactWriteItems as 2,
reads labelled by consistency, and the simulated gateway's ledger kept apart."""

from __future__ import annotations

from typing import Any

from bench import bookings

from tests.bookings_support import create_table


def test_tally_counts_each_call_by_kind_with_transactions_as_two(aws: Any) -> None:
    ddb = aws.client("dynamodb")
    create_table(ddb, "t")
    tally = bookings.Tally().attach(ddb)
    seat = {"pk": {"S": "SEAT#e#s"}, "sk": {"S": "#SEAT"}}
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "t", "Item": seat}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "SEAT#e#s"}, "sk": {"S": "LINE#1"}}}},
        ]
    )
    ddb.get_item(TableName="t", Key=seat, ConsistentRead=True)
    ddb.query(
        TableName="t",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "SEAT#e#s"}},
        Limit=1,
    )
    ddb.put_item(TableName="t", Item={"pk": {"S": "CHARGES#b"}, "sk": {"S": "KEY#k#APPROVAL"}})

    assert tally.kinds == {
        "dynamodb:TransactWriteItems": 1,
        "dynamodb:GetItem (strong)": 1,
        "dynamodb:Query (eventual)": 1,
    }
    assert tally.equivalents() == 4.0
    assert tally.ledger == {"dynamodb:PutItem": 1}
