"""Children's requests on a real SQLite file: the limits, deduplication, answers and the audit."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dnsfilter.storage.child_requests import (
    MAX_OPEN,
    MAX_PER_HOUR,
    OPEN_DAYS,
    AnswerError,
    RequestRefused,
    RequestStore,
)

T0 = 1_800_000_000.0
DEV = "02:00:5e:10:00:01"


@pytest.fixture
def store(tmp_path: Path) -> RequestStore:
    s = RequestStore(tmp_path / "dnsfilter.db")
    yield s
    s.close()


def ask(store: RequestStore, name: str, device: str = DEV, now: float = T0, kind: str = "site"):
    return store.create(device=device, label="Aru's tablet", profile="Kids", kind=kind, name=name,
                        reason="category", category="games", wanted="1h", now=now)


def test_the_same_open_request_is_returned_again(store: RequestStore) -> None:
    r1, made1 = ask(store, "game.example")
    r2, made2 = ask(store, "game.example", now=T0 + 5)
    assert made1 and not made2 and r1.id == r2.id
    other, made = ask(store, "game.example", device="192.168.1.9")
    assert made and other.id != r1.id  # another device's request is its own


def test_at_most_five_open_per_device(store: RequestStore) -> None:
    for i in range(MAX_OPEN):
        ask(store, f"s{i}.example", now=T0 + i)
    with pytest.raises(RequestRefused) as e:
        ask(store, "six.example", now=T0 + 10)
    assert e.value.code == "too_many_open"
    ask(store, "six.example", device="other")  # the limit is per device
    store.answer(1, "denied", by="admin", now=T0 + 20)
    r, made = ask(store, "six.example", now=T0 + 30)  # one answered: room for one more
    assert made and r.state == "open"


def test_at_most_ten_an_hour_per_device(store: RequestStore) -> None:
    for i in range(MAX_PER_HOUR):
        r, _ = ask(store, f"s{i}.example", now=T0 + i)
        store.answer(r.id, "denied", by="admin", now=T0 + i)
    with pytest.raises(RequestRefused) as e:
        ask(store, "more.example", now=T0 + 100)
    assert e.value.code == "too_many"
    r, made = ask(store, "more.example", now=T0 + 3601)  # an hour after the first
    assert made


def test_answers_are_kept_with_who_and_when(store: RequestStore) -> None:
    r, _ = ask(store, "game.example")
    ok = store.answer(r.id, "approved", by="admin", duration="1h", until=T0 + 3700, now=T0 + 100)
    assert (ok.state, ok.answered_by, ok.answered, ok.duration, ok.until, ok.scope) == \
        ("approved", "admin", T0 + 100, "1h", T0 + 3700, "device")
    assert ok.active(T0 + 3699) and not ok.active(T0 + 3700)
    with pytest.raises(AnswerError, match="approved already"):
        store.answer(r.id, "denied", by="cli:root", now=T0 + 200)
    with pytest.raises(AnswerError, match="no request 99"):
        store.answer(99, "denied", by="admin")
    with pytest.raises(AnswerError):
        store.answer(r.id, "approved", by="admin", duration="3 days")


def test_two_parents_answering_at_once_get_one_answer_in(store: RequestStore) -> None:
    r, _ = ask(store, "game.example")
    results: list[str] = []

    def answer(state: str) -> None:
        try:
            store.answer(r.id, state, by=state, duration="15m")
            results.append(state)
        except AnswerError:
            results.append("refused")

    threads = [threading.Thread(target=answer, args=(s,)) for s in ("approved", "denied")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count("refused") == 1
    assert store.get(r.id).state in ("approved", "denied")


def test_unanswered_requests_expire(store: RequestStore) -> None:
    ask(store, "old.example", now=T0)
    assert store.open_count(now=T0 + 60) == 1
    assert store.find(now=T0 + OPEN_DAYS * 86400 - 1)[0].state == "open"
    assert store.open_count(now=T0 + OPEN_DAYS * 86400) == 0
    assert store.find(now=T0 + OPEN_DAYS * 86400)[0].state == "expired"


def test_bad_requests_are_refused(store: RequestStore) -> None:
    for kw in ({"kind": "bogus"}, {"name": ""}, {"name": "x" * 300}):
        with pytest.raises(RequestRefused):
            store.create(device=DEV, label="t", profile="Kids", **{"kind": "site", "name": "a.example", **kw})


def test_budget_days_replace_the_day_s_last_save(store: RequestStore) -> None:
    store.record_budget_days([("2026-12-01", DEV, "Kids", "youtube", 10, 60)])
    store.record_budget_days([("2026-12-01", DEV, "Kids", "youtube", 25, 90)])
    store.record_budget_days([("2026-12-02", DEV, "Kids", "youtube", 5, 60)])
    assert store.budget_days("2026-12-01", "2026-12-07") == [
        ("2026-12-01", DEV, "Kids", "youtube", 25, 90), ("2026-12-02", DEV, "Kids", "youtube", 5, 60)]
