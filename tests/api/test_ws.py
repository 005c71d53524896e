"""Live events over a real WebSocket (uvicorn on loopback): authentication without a token in
the URL, every output line exactly once and in order across a reconnect, RBAC on subscriptions
and events, and slow consumers cut off."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.models import SystemGroup, User
from app.models.enums import GrantLevel, Role
from app.services import events, live
from tests.fixtures.auth import Account
from tests.fixtures.engine import Engine, Served
from tests.fixtures.systems import grant_to

pytestmark = pytest.mark.slow


async def _ticket(orca: Engine, account: Account) -> str:
    response = await orca.client.post("/api/v1/ws/ticket", headers=account.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == 30
    return str(body["ticket"])


async def _open(orca: Engine, served: Served, account: Account | None = None) -> ClientConnection:
    ticket = await _ticket(orca, account or orca.admin)
    ws = await connect(f"{served.ws_url}?ticket={ticket}", max_size=None)
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello"
    return ws


async def _until(
    ws: ClientConnection, stop: Any, seconds: float = 30.0, keep: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Messages until `stop(message)` is true (that one included)."""
    seen = keep if keep is not None else []
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no stop message; last: {seen[-3:]}")
        message = json.loads(await asyncio.wait_for(ws.recv(), left))
        seen.append(message)
        if stop(message):
            return seen


async def _close_code(ws: ClientConnection, seconds: float = 20.0) -> int:
    try:
        async with asyncio.timeout(seconds):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code
    raise AssertionError("still open")


async def test_tickets_are_single_use_and_tokens_go_in_the_first_message(
    orca: Engine, served: Served
) -> None:
    ticket = await _ticket(orca, orca.admin)
    async with connect(f"{served.ws_url}?ticket={ticket}") as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send("not json")
        assert json.loads(await ws.recv())["code"] == "bad_message"
        await ws.send(json.dumps({"op": "dance"}))
        assert "op must be" in json.loads(await ws.recv())["message"]
        await ws.send(json.dumps({"op": "subscribe", "job_id": "nope"}))
        assert "job_id" in json.loads(await ws.recv())["message"]
        await ws.send(json.dumps({"op": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"
        await ws.send(b"\x00binary")
        assert await _close_code(ws) == 1003
    async with connect(f"{served.ws_url}?ticket={ticket}") as reused:
        assert await _close_code(reused) == live.CLOSE_UNAUTHORIZED
    async with connect(f"{served.ws_url}?ticket=made-up") as made_up:
        assert await _close_code(made_up) == live.CLOSE_UNAUTHORIZED
    async with connect(served.ws_url) as ws:
        await ws.send(json.dumps({"op": "auth", "token": orca.admin.token}))
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["user"]["username"] == "boss"
    async with connect(served.ws_url) as ws:
        await ws.send(json.dumps({"op": "auth", "token": orca.admin.token + "x"}))
        assert await _close_code(ws) == live.CLOSE_UNAUTHORIZED
    async with connect(served.ws_url) as ws:
        await ws.send("hello?")
        assert await _close_code(ws) == live.CLOSE_UNAUTHORIZED


async def test_every_line_arrives_once_in_order_across_a_reconnect(
    orca: Engine, served: Served
) -> None:
    await orca.local_system("talker")
    script = 'for i in $(seq 1 300); do echo "line $i"; [ $((i % 50)) = 0 ] && sleep 0.3; done'
    job = await orca.submit({"command": script, "targets": {"systems": ["talker"]}})

    ws = await _open(orca, served)
    await ws.send(json.dumps({"op": "subscribe", "job_id": job["id"], "output": True}))
    first: list[dict[str, Any]] = []
    await _until(ws, lambda m: m["type"] == "output" and "line 60\n" in m["data"], keep=first)
    await ws.close()
    chunks = [m for m in first if m["type"] == "output"]
    execution_id = chunks[0]["execution_id"]
    last = chunks[-1]["seq"]

    ws = await _open(orca, served)
    await ws.send(
        json.dumps(
            {"op": "subscribe", "job_id": job["id"], "output": True, "after": {execution_id: last}}
        )
    )
    rest = await _until(
        ws, lambda m: m["type"] == "execution" and m["status"] == "succeeded", seconds=60
    )
    await ws.close()
    chunks += [m for m in rest if m["type"] == "output"]
    seqs = [chunk["seq"] for chunk in chunks]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    text = "".join(chunk["data"] for chunk in chunks)
    assert text == "".join(f"line {i}\n" for i in range(1, 301))
    assert any(m["type"] == "caught_up" for m in rest)


async def test_replay_of_a_finished_job_then_live_feed(orca: Engine, served: Served) -> None:
    await orca.local_system("a")
    old = await orca.submit({"command": "echo one; echo two >&2", "targets": {"systems": ["a"]}})
    await orca.finished(old["id"])
    ws = await _open(orca, served)
    await ws.send(json.dumps({"op": "subscribe", "job_id": old["id"], "output": True}))
    replay = await _until(ws, lambda m: m["type"] == "caught_up")
    kinds = [m["type"] for m in replay]
    assert kinds[0] == "subscribed" and kinds[1] == "job"
    outputs = [(m["stream"], m["data"]) for m in replay if m["type"] == "output"]
    assert "".join(data for stream, data in outputs if stream == "stdout") == "one\n"
    assert "".join(data for stream, data in outputs if stream == "stderr") == "two\n"

    await ws.send(json.dumps({"op": "subscribe", "feed": True}))
    await _until(ws, lambda m: m["type"] == "caught_up" and m.get("feed"))
    new = await orca.submit({"command": "true", "targets": {"systems": ["a"]}})
    feed = await _until(
        ws, lambda m: m["type"] == "job" and m["job_id"] == new["id"] and m["status"] == "succeeded"
    )
    statuses = [m["status"] for m in feed if m["type"] == "job" and m["job_id"] == new["id"]]
    assert statuses[-1] == "succeeded" and statuses[0] in {"pending", "running"}
    seqs = [m["seq"] for m in feed if m["type"] == "job"]
    assert seqs == sorted(seqs)
    await ws.close()


async def test_feed_events_published_out_of_number_order_all_arrive(
    orca: Engine, served: Served
) -> None:
    """Feed numbers are taken before commit, so two transactions can publish theirs in the
    other order. The lower one is still news about its own job; only an older state of the
    same job is dropped."""
    await orca.local_system("a")
    first = await orca.submit({"command": "true", "targets": {"systems": ["a"]}})
    second = await orca.submit({"command": "true", "targets": {"systems": ["a"]}})
    await orca.finished(first["id"])
    await orca.finished(second["id"])
    ws = await _open(orca, served)
    await ws.send(json.dumps({"op": "subscribe", "feed": True}))
    caught_up = await _until(ws, lambda m: m["type"] == "caught_up" and m.get("feed"))
    top = caught_up[-1]["seq"]
    redis = orca.live.app.state.arq

    async def publish(job: dict[str, Any], seq: int, name: str) -> None:
        event = {
            "type": "job",
            "job_id": job["id"],
            "seq": seq,
            "status": "succeeded",
            "name": name,
        }
        await redis.publish(events.FEED_CHANNEL, json.dumps(event))

    await publish(second, top + 10, "second, newer")
    await publish(first, top + 9, "first, committed later with a lower number")
    await publish(second, top + 8, "second, stale")
    await publish(first, top + 11, "the end")
    seen = await _until(ws, lambda m: m.get("name") == "the end")
    assert [m["name"] for m in seen if m["type"] == "job"] == [
        "second, newer",
        "first, committed later with a lower number",
        "the end",
    ]
    await ws.close()


async def test_ending_one_output_keeps_the_job_followed(orca: Engine, served: Served) -> None:
    """A job page follows the job and the output of the system on screen; picking another
    system ends that output only, never the job's state events."""
    await orca.local_system("a")
    await orca.local_system("b")
    job = await orca.submit({"command": "sleep 1; echo done", "targets": {"systems": ["a", "b"]}})
    first = (await orca.executions(job["id"]))[0]
    ws = await _open(orca, served)
    await ws.send(json.dumps({"op": "subscribe", "job_id": job["id"]}))
    await _until(ws, lambda m: m["type"] == "caught_up")
    await ws.send(json.dumps({"op": "subscribe", "execution_id": first["id"], "after_seq": 0}))
    await _until(ws, lambda m: m["type"] == "caught_up" and m.get("execution_id"))
    await ws.send(json.dumps({"op": "unsubscribe", "execution_id": first["id"]}))
    await _until(ws, lambda m: m["type"] == "unsubscribed")
    finished = await _until(
        ws, lambda m: m["type"] == "job" and m["status"] == "succeeded", seconds=30
    )
    ended = {m["execution_id"] for m in finished if m["type"] == "execution" and m["finished_at"]}
    assert len(ended) == 2
    assert not [m for m in finished if m["type"] == "output"]
    await ws.close()


async def test_subscriptions_and_events_follow_access(orca: Engine, served: Served) -> None:
    public = await orca.local_system("public")
    await orca.local_system("secret")
    group = await orca.post("/api/v1/groups", {"name": "shared"})
    await orca.post(f"/api/v1/groups/{group['id']}/systems", {"system_ids": [public["id"]]})
    viewer = await orca.account(Role.viewer, "watcher")
    async with orca.live.session() as session:
        shared = await session.get(SystemGroup, group["id"])
        assert shared is not None
        await grant_to(session, viewer, shared, GrantLevel.view)
        await session.commit()

    hidden = await orca.submit({"command": "true", "targets": {"systems": ["secret"]}})
    mixed = await orca.submit({"command": "echo hi", "targets": {"systems": ["public", "secret"]}})
    await orca.finished(mixed["id"])
    ws = await _open(orca, served, viewer)
    await ws.send(json.dumps({"op": "subscribe", "job_id": hidden["id"]}))
    refused = await _until(ws, lambda m: m["type"] == "error")
    assert refused[-1]["code"] == "not_found"
    await ws.send(json.dumps({"op": "subscribe", "job_id": mixed["id"], "output": True}))
    replay = await _until(ws, lambda m: m["type"] == "caught_up")
    names = {m["system_name"] for m in replay if m["type"] == "execution"}
    assert names == {"public"}
    secret_execution = next(
        e for e in await orca.executions(mixed["id"]) if e["system_name"] == "secret"
    )
    assert all(m.get("execution_id") != secret_execution["id"] for m in replay)

    # A deactivated user is disconnected at the next check.
    async with orca.live.session() as session:
        await session.execute(update(User).where(User.id == viewer.user.id).values(is_active=False))
        await session.commit()
    assert await _close_code(ws, 40) == live.CLOSE_UNAUTHORIZED


async def test_a_client_that_stops_reading_is_cut_off(
    orca: Engine, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "MAX_OUTBOX_BYTES", 64 * 1024)
    await orca.local_system("firehose")
    job = await orca.submit(
        {"command": "head -c 12000000 /dev/zero | tr '\\0' x", "targets": {"systems": ["firehose"]}}
    )
    ticket = await _ticket(orca, orca.admin)
    # A small receive buffer, so what the kernel holds for the idle client stays far below
    # the output (the server's outbox, not the network, must be what fills up).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", served.port))
    ws = await connect(f"{served.ws_url}?ticket={ticket}", sock=sock, max_size=None, max_queue=1)
    await ws.send(json.dumps({"op": "subscribe", "job_id": job["id"], "output": True}))
    await orca.finished(job["id"], 120)
    await asyncio.sleep(1)
    assert await _close_code(ws, 60) == live.CLOSE_SLOW_CONSUMER
