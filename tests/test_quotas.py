"""Tokens per user per day and per month (chat/quotas.py): a user over quota is refused in
words with when it resets, before anything is saved or any provider is called; a reply that
crosses the line finishes; per-user quotas in the admin take the site's place; the counts
are the database's, exact under 20 replies at once."""

import asyncio
from datetime import UTC, date, datetime

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message, Quota, UsageDay
from chat.quotas import over_quota, record
from tests.upstream_server import USAGE, Reply, text_reply
from tests.ws import Socket

pytestmark = pytest.mark.django_db(transaction=True)

TOKENS = USAGE["total_tokens"]  # what each scripted reply says it used: 18


async def send(socket: Socket, content: str = "hi") -> dict:
    await socket.send({"type": "send", "conversation": None, "content": content})
    return await socket.recv()


async def test_a_user_over_the_daily_quota_is_refused_with_when_it_resets(
    alice, upstream, settings
):
    settings.CHAT_QUOTA_DAILY_TOKENS = TOKENS
    socket = await Socket.open_as(alice)
    await send(socket)
    await socket.recv_reply_end()
    refused = await send(socket, "one more")
    assert refused["type"] == "error" and refused["code"] == "over_quota"
    assert "You have used 18 tokens today, your quota is 18." in refused["message"]
    assert "resets at midnight UTC, in" in refused["message"]
    assert 0 < refused["retry_after"] <= 86_400
    assert len(upstream.requests) == 1  # the provider was not asked
    assert await Message.objects.filter(content="one more").acount() == 0  # nothing saved
    await socket.close()


async def test_the_monthly_quota_says_the_day_it_resets(alice, upstream, settings):
    settings.CHAT_QUOTA_MONTHLY_TOKENS = 10
    await UsageDay.objects.acreate(
        user=alice, day=datetime.now(UTC).date(), model="m", prompt_tokens=10
    )
    socket = await Socket.open_as(alice)
    refused = await send(socket)
    assert refused["code"] == "over_quota" and "this month" in refused["message"]
    assert " on 1 " in refused["message"]
    await socket.close()


async def test_a_reply_that_crosses_the_line_finishes(alice, upstream, settings):
    settings.CHAT_QUOTA_DAILY_TOKENS = 5  # less than the one reply will use
    upstream.queue(text_reply([f"w{i} " for i in range(20)]))
    socket = await Socket.open_as(alice)
    await send(socket)
    last = (await socket.recv_reply_end())[-1]
    assert last["status"] == "complete"
    reply = await Message.objects.aget(role="assistant")
    assert reply.content.endswith("w19 ")
    await socket.close()


async def test_a_users_own_quota_takes_the_sites_place(alice, bob, upstream, settings):
    settings.CHAT_QUOTA_DAILY_TOKENS = 1_000_000
    await Quota.objects.acreate(user=alice, daily_tokens=1)
    await Quota.objects.acreate(user=bob, daily_tokens=0)  # no limit for bob
    for user in (alice, bob):
        await UsageDay.objects.acreate(
            user=user, day=datetime.now(UTC).date(), model="m", prompt_tokens=2_000_000
        )
    assert (await sync_to_async(over_quota)(alice.pk)) is not None
    assert (await sync_to_async(over_quota)(bob.pk)) is None


async def test_the_count_is_exact_under_twenty_replies_at_once(alice, upstream, settings):
    settings.CHAT_QUOTA_DAILY_TOKENS = 10 * TOKENS  # crossed halfway: the replies finish
    upstream.default = text_reply(["one ", "two ", "three"], pause=0.2)
    sockets = [await Socket.open_as(alice) for _ in range(20)]
    await asyncio.gather(
        *(s.send({"type": "send", "conversation": None, "content": "q"}) for s in sockets)
    )
    frames = await asyncio.gather(*(s.recv_reply_end(timeout=30) for s in sockets))
    # All started, nothing being used yet when each was checked, and all finished.
    assert [f[-1]["status"] for f in frames] == ["complete"] * 20
    usage = [m.usage async for m in Message.objects.filter(role="assistant")]
    row = await UsageDay.objects.aget(user=alice)
    assert row.rounds == 20 and len(usage) == 20
    assert row.prompt_tokens + row.completion_tokens == 20 * TOKENS
    refused = await send(sockets[0], "now over")
    assert refused["code"] == "over_quota"
    for socket in sockets:
        await socket.close()


async def test_a_round_counts_for_the_model_that_answered_else_the_one_asked(
    alice, upstream, settings
):
    settings.CHAT_MODELS = ["asked-model"]
    settings.CHAT_MODEL = "asked-model"
    unnamed = Reply(
        body=[part.replace(b'"model": "test-model-2024", ', b"") for part in text_reply(["A"]).body]
    )
    upstream.queue(text_reply(["B"]), unnamed)
    socket = await Socket.open_as(alice)
    for content in ("named", "unnamed"):
        await send(socket, content)
        await socket.recv_reply_end()
    await socket.close()
    rows = {row.model: row.rounds async for row in UsageDay.objects.filter(user=alice)}
    assert rows == {"test-model-2024": 1, "asked-model": 1}


def test_record_adds_to_one_row_per_user_day_and_model(alice):
    for _ in range(3):
        record(alice.pk, "m1", {"prompt_tokens": 2, "completion_tokens": 3})
    record(alice.pk, "m2", {"prompt_tokens": 1, "completion_tokens": 1, "estimated": True})
    record(alice.pk, "m2", None)  # a round that used nothing
    rows = {row.model: row for row in UsageDay.objects.filter(user=alice)}
    assert (rows["m1"].prompt_tokens, rows["m1"].completion_tokens, rows["m1"].rounds) == (6, 9, 3)
    assert (rows["m2"].rounds, rows["m2"].estimated_rounds) == (1, 1)


def test_yesterdays_use_does_not_count_today(alice, settings):
    settings.CHAT_QUOTA_DAILY_TOKENS = 10
    UsageDay.objects.create(user=alice, day=date(2026, 11, 25), model="m", prompt_tokens=99)
    assert over_quota(alice.pk, datetime(2026, 11, 26, 12, tzinfo=UTC)) is None
    assert over_quota(alice.pk, datetime(2026, 11, 25, 12, tzinfo=UTC)) is not None


def test_quotas_are_edited_in_the_admin(admin_client, alice):
    response = admin_client.post(
        "/admin/chat/quota/add/", {"user": alice.pk, "daily_tokens": "500", "monthly_tokens": ""}
    )
    assert response.status_code == 302
    quota = Quota.objects.get(user=alice)
    assert quota.daily_tokens == 500 and quota.monthly_tokens is None
