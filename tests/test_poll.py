"""POST /events/poll (RFC 8936, app/poll.py) and the outbox's upkeep (app/push.py, retention)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from app import outbox, push, tail, tenant_store
from tests.conftest import ScimClient, assert_scim_error
from tests.test_events import EVENTS_AUTH, EVENTS_TOKEN, SECRET, poll, verify
from tests.test_tenants import ACME, GLOBEX, TenantClient


def events_on(make_client: Callable[..., ScimClient], **settings: Any) -> ScimClient:
    settings = {"events_token": EVENTS_TOKEN, "events_secret": SECRET, **settings}
    return make_client(**settings)


def users(client: ScimClient, count: int) -> list[str]:
    return [client.create_user(f"user{n}")["id"] for n in range(count)]


def test_ack_and_redelivery_of_what_was_not_acknowledged(
    make_client: Callable[..., ScimClient],
) -> None:
    c = events_on(make_client, events_redeliver_seconds=0.0)
    users(c, 3)
    first = poll(c).json()
    assert len(first["sets"]) == 3 and first["moreAvailable"] is False
    one, two, three = first["sets"]
    again = poll(c, ack=[one]).json()  # two and three were not acknowledged: offered again
    assert list(again["sets"]) == [two, three]
    assert poll(c, ack=[two, three]).json() == {"sets": {}, "moreAvailable": False}


def test_an_offered_set_waits_for_the_redelivery_delay(
    make_client: Callable[..., ScimClient],
) -> None:
    c = events_on(make_client, events_redeliver_seconds=30.0)
    users(c, 2)
    assert len(poll(c).json()["sets"]) == 2
    assert poll(c).json()["sets"] == {}  # offered, neither acknowledged nor due again yet
    c.create_user("later")
    assert len(poll(c).json()["sets"]) == 1  # a new one is due at once


def test_max_events_and_more_available(make_client: Callable[..., ScimClient]) -> None:
    c = events_on(make_client, events_redeliver_seconds=0.0)
    users(c, 5)
    page = poll(c, maxEvents=2).json()
    assert len(page["sets"]) == 2 and page["moreAvailable"] is True
    acked = list(page["sets"])
    answer = poll(c, maxEvents=0, ack=acked).json()  # RFC 8936 §2.2: acknowledge only
    assert answer == {"sets": {}, "moreAvailable": True}
    rest = poll(c, maxEvents=10).json()
    assert len(rest["sets"]) == 3 and rest["moreAvailable"] is False
    assert not set(rest["sets"]) & set(acked)


def test_set_errs_are_recorded_logged_and_not_offered_again(
    make_client: Callable[..., ScimClient], caplog: pytest.LogCaptureFixture
) -> None:
    c = events_on(make_client, events_redeliver_seconds=0.0)
    users(c, 2)
    bad, good = poll(c).json()["sets"]
    errs = {bad: {"err": "invalid_key", "description": "Key ID 12345 has been revoked."}}
    with caplog.at_level(logging.WARNING, logger="app.poll"):
        assert poll(c, ack=[good], setErrs=errs).json()["sets"] == {}
    assert "invalid_key" in caplog.text and bad in caplog.text
    ((_seq, err, description),) = outbox.errors_of(outbox.POLL)
    assert (err, description) == ("invalid_key", "Key ID 12345 has been revoked.")


def test_a_long_poll_is_woken_by_a_write(make_client: Callable[..., ScimClient]) -> None:
    c = events_on(make_client, events_long_poll_seconds=10.0)
    answers: list[Any] = []

    def wait() -> None:
        started = time.monotonic()
        answers.append((poll(c, returnImmediately=False).json(), time.monotonic() - started))

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    written = time.monotonic()
    user_id = c.create_user("late")["id"]
    waiter.join(timeout=10)
    (answer, waited) = answers[0]
    (token,) = answer["sets"].values()
    assert verify(token)["sub_id"]["uri"] == f"/Users/{user_id}"
    assert waited > 0.4 and time.monotonic() - written < 1.0


def test_a_long_poll_ends_at_its_bound(make_client: Callable[..., ScimClient]) -> None:
    c = events_on(make_client, events_long_poll_seconds=0.3)
    started = time.monotonic()
    assert poll(c, returnImmediately=False).json() == {"sets": {}, "moreAvailable": False}
    assert 0.25 < time.monotonic() - started < 3


def test_a_poll_body_the_spec_refuses(make_client: Callable[..., ScimClient]) -> None:
    c = events_on(make_client)
    answer = c.http.post("/scim/v2/events/poll", json={"maxEvents": -1}, headers=EVENTS_AUTH)
    assert answer.status_code == 400


# --- tenants: each polls its own feed ----------------------------------------------------------


@pytest.fixture
def acme(make_client: Callable[..., ScimClient], monkeypatch: Any) -> TenantClient:
    """Events on (redelivery at once, no retention delay), tenants acme and globex."""
    monkeypatch.setattr(tenant_store, "CACHE_SECONDS", 0.0)
    c = events_on(
        make_client,
        events_redeliver_seconds=0.0,
        events_retention_seconds=0.0,
        events_long_poll_seconds=0.3,
    )
    tenant_store.add("globex")
    return TenantClient(c, ACME, tenant_store.add("acme"))


def uris(answer: Any) -> list[str]:
    return [verify(token)["sub_id"]["uri"] for token in answer.json()["sets"].values()]


def test_each_tenant_polls_its_own_events(acme: TenantClient) -> None:
    c = ScimClient(acme.http)
    alice = acme.create_user("alice")["id"]
    bob = c.create_user("bob")["id"]
    mine = poll(c, ACME)
    assert uris(mine) == [f"/Users/{alice}"]
    assert [verify(t)["iss"] for t in mine.json()["sets"].values()] == [f"http://testserver{ACME}"]
    assert uris(poll(c)) == [f"/Users/{bob}"]  # the default tenant's feed, at the plain base
    assert poll(c, GLOBEX).json() == {"sets": {}, "moreAvailable": False}
    # An acknowledgement sent to another tenant's feed acknowledges nothing.
    assert poll(c, GLOBEX, maxEvents=0, ack=list(mine.json()["sets"])).status_code == 200
    assert list(poll(c, ACME).json()["sets"]) == list(mine.json()["sets"])


def test_an_unknown_or_removed_tenants_poll_is_refused(acme: TenantClient) -> None:
    c = ScimClient(acme.http)
    assert_scim_error(poll(c, "/scim/v2/tenants/nobody"), 401)
    acme.create_user("alice")
    tenant_store.remove("acme")
    assert_scim_error(poll(c, ACME), 401)
    # Its event stays for push receivers and retention, waiting for no poll receiver.
    assert outbox.low_mark(True, ()) == outbox.last_seq()


def test_a_long_poll_is_not_woken_by_another_tenants_write(acme: TenantClient) -> None:
    c = ScimClient(acme.http)
    threading.Timer(0.1, lambda: c.create_user("elsewhere")).start()
    started = time.monotonic()
    answer = poll(c, ACME, returnImmediately=False)
    assert answer.json() == {"sets": {}, "moreAvailable": False}
    assert time.monotonic() - started >= 0.25  # it waited its whole bound (0.3 s)


def test_a_tenant_nobody_polls_does_not_keep_the_others_events(acme: TenantClient) -> None:
    c = ScimClient(acme.http)
    users(c, 2)
    never_polled = acme.create_user("never-polled")["id"]
    newest = c.create_user("newest")["id"]
    first_two = list(poll(c).json()["sets"])[:2]
    poll(c, maxEvents=0, ack=first_two)
    time.sleep(0.01)
    upkeep()  # the acknowledged two are past retention; the newest event always stays
    kept = [json.loads(event.claims)["sub_id"]["uri"] for event in outbox.after(0, 10)]
    assert kept == [f"/Users/{never_polled}", f"/Users/{newest}"]


# --- retention (the deliverer's upkeep) -----------------------------------------------------


def upkeep() -> None:
    asyncio.run(push.Deliverer(asyncio.Event()).upkeep())


def test_acknowledged_events_are_pruned_after_retention(
    make_client: Callable[..., ScimClient],
) -> None:
    c = events_on(make_client, events_retention_seconds=0.0, events_redeliver_seconds=0.0)
    users(c, 3)
    first, *_ = poll(c).json()["sets"]
    poll(c, maxEvents=0, ack=[first])
    time.sleep(0.01)
    upkeep()
    assert len(poll(c).json()["sets"]) == 2  # the two unacknowledged ones are kept


def test_unacknowledged_events_are_bounded_and_the_oldest_dropped_loudly(
    make_client: Callable[..., ScimClient], caplog: pytest.LogCaptureFixture
) -> None:
    c = events_on(make_client, events_max_pending=3, events_redeliver_seconds=0.0)
    ids = users(c, 5)
    with caplog.at_level(logging.ERROR, logger="app.push"):
        upkeep()
    assert "EVENTS DROPPED: 2" in caplog.text
    assert outbox.state("dropped") == 2
    kept = [verify(t)["sub_id"]["uri"] for t in poll(c).json()["sets"].values()]
    assert kept == [f"/Users/{i}" for i in ids[2:]]


def test_the_tail_prints_one_line_per_event(make_client: Callable[..., ScimClient]) -> None:
    c = events_on(make_client)
    user_id = c.create_user("alice@example.com")["id"]
    c.patch(f"/Users/{user_id}", [{"op": "replace", "value": {"active": False}}])
    created, deactivated = (tail.line(tail.claims_of(t)) for t in poll(c).json()["sets"].values())
    assert "create:full" in created and f"/Users/{user_id}" in created
    assert created.endswith("alice@example.com")
    assert "patch:full+deactivate" in deactivated and deactivated.endswith("replace active")


def test_a_sequence_is_never_used_twice(make_client: Callable[..., ScimClient]) -> None:
    c = events_on(make_client, events_retention_seconds=0.0)
    users(c, 3)
    acked = list(poll(c).json()["sets"])
    poll(c, maxEvents=0, ack=[*acked, "not-a-jti", "99-nothing"])  # unknown ones are ignored
    time.sleep(0.01)
    upkeep()  # all three are delivered and past retention: all but the newest go
    assert outbox.last_seq() == 3
    c.create_user("next")
    (jti,) = poll(c).json()["sets"]
    assert jti.startswith("4-")  # the push cursors and the poll floor count on it


def test_a_push_receiver_that_is_down_is_bounded_too(
    make_client: Callable[..., ScimClient], caplog: pytest.LogCaptureFixture
) -> None:
    down = "http://127.0.0.1:9/events"  # the discard port: nothing listens
    c = make_client(
        events_push_urls=(down,),
        events_secret=SECRET,
        events_max_pending=2,
        events_push_backoff_seconds=100.0,
    )
    users(c, 4)
    with caplog.at_level(logging.ERROR, logger="app.push"):
        upkeep()
    assert "EVENTS DROPPED: 2" in caplog.text
    assert outbox.receiver(down).delivered == 2  # it will get events 3 and 4 when it is back
    assert outbox.after(outbox.receiver(down).delivered, 10)[0].seq == 3
