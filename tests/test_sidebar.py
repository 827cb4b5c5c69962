"""The sidebar scales: pinned conversations on top and every conversation listed exactly once
while paging; groups by day in the reader's time zone; rename, pin and delete in a "⋯" menu
that works from the keyboard; a delete hides the conversation from everything at once,
stops its reply, and can be undone for a few seconds, after which it is gone for good,
messages and all. Another user can neither see nor undo it."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from chat import models, paging
from chat.models import Conversation, Message
from tests.live import browser_page, close_context, log_in, running_site, send
from tests.test_protocol_shapes import check
from tests.test_sidebar_paging import every_page, listed_ids, many, next_cursor
from tests.upstream_server import text_reply
from tests.ws import Socket

PAGE = paging.PAGE_SIZE


def pin(conversation: Conversation, when: datetime) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(pinned=when)


# ---------------------------------------------------------------- pins and paging


@pytest.mark.django_db
def test_pinned_ones_come_first_the_latest_pinned_on_top(client, alice):
    newest_first = many(alice, 10)
    now = timezone.now()
    pin(newest_first[7], now - timedelta(hours=2))
    pin(newest_first[3], now - timedelta(hours=1))
    client.force_login(alice)
    ids = listed_ids(client.get("/").content.decode())
    rest = [c.pk for c in newest_first if c.pk not in {newest_first[3].pk, newest_first[7].pk}]
    assert ids == [newest_first[3].pk, newest_first[7].pk, *rest]
    data = client.get("/c/").json()["conversations"]
    assert [c["pinned"] for c in data[:3]] == [True, True, False]


@pytest.mark.django_db
def test_paging_with_pins_lists_every_conversation_exactly_once(client, alice):
    newest_first = many(alice, 180, ties=3)
    now = timezone.now()
    # Pinned from the first page, the second, the third and the last.
    pinned = [newest_first[i] for i in (0, 10, 49, 50, 75, 120, 179)]
    for minutes, conversation in enumerate(pinned):
        pin(conversation, now - timedelta(minutes=minutes))
    client.force_login(alice)
    html = client.get("/").content.decode()
    seen = listed_ids(html)
    assert seen[: len(pinned)] == [c.pk for c in pinned]
    assert len(seen) == len(pinned) + PAGE  # the pins come on top of a full first page
    seen += every_page(client, next_cursor(html))
    assert len(seen) == len(set(seen)) == 180
    unpinned = [c.pk for c in newest_first if c not in pinned]
    assert seen == [c.pk for c in pinned] + unpinned


@pytest.mark.django_db
def test_pinning_keeps_the_time_and_says_what_is_wrong(client, alice, bob):
    conversation = many(alice, 1)[0]
    client.force_login(alice)
    response = client.post(f"/c/{conversation.pk}/pin/", {"pinned": "1"})
    assert response.status_code == 200 and response.json()["conversation"]["pinned"] is True
    pinned = Conversation.objects.get(pk=conversation.pk)
    assert pinned.pinned is not None and pinned.updated == conversation.updated
    assert (
        client.post(f"/c/{conversation.pk}/pin/", {"pinned": "0"}).json()["conversation"]["pinned"]
        is False
    )
    bad = client.post(f"/c/{conversation.pk}/pin/", {"pinned": "yes"})
    assert bad.status_code == 400 and "pinned=1" in bad.json()["error"]
    assert client.get(f"/c/{conversation.pk}/pin/").status_code == 405
    client.force_login(bob)
    assert client.post(f"/c/{conversation.pk}/pin/", {"pinned": "1"}).status_code == 404
    assert Conversation.objects.get(pk=conversation.pk).pinned is None


# ---------------------------------------------------------------- delete and Undo


@pytest.fixture
def chat_with_history(alice) -> Conversation:
    conversation = Conversation.objects.create(
        user=alice, title="Trip plans", model="m1", system_prompt="Be brief."
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        pinned=timezone.now() - timedelta(days=1), updated=timezone.now() - timedelta(days=3)
    )
    for role, text in [("user", "Where to?"), ("assistant", "The sea."), ("user", "When?")]:
        Message.objects.create(conversation=conversation, role=role, content=text)
    return Conversation.objects.get(pk=conversation.pk)


def delete(client, conversation) -> dict:
    response = client.post(f"/c/{conversation.pk}/delete/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def snapshot(conversation: Conversation) -> tuple:
    fresh = Conversation.objects.get(pk=conversation.pk)
    fields = (fresh.title, fresh.model, fresh.system_prompt, fresh.pinned, fresh.updated)
    return fields, fresh.history_for_model(), fresh.transcript()


@pytest.mark.django_db
def test_a_deleted_conversation_is_gone_at_once_from_every_page_and_list(
    client, alice, chat_with_history
):
    client.force_login(alice)
    delete(client, chat_with_history)
    pk = chat_with_history.pk
    assert pk not in listed_ids(client.get("/").content.decode())
    assert pk not in [c["id"] for c in client.get("/c/").json()["conversations"]]
    assert client.get(f"/c/{pk}/").status_code == 404
    for url in (f"/c/{pk}/rename/", f"/c/{pk}/pin/", f"/c/{pk}/delete/"):
        assert client.post(url, {"title": "x", "pinned": "1"}).status_code == 404
    assert Conversation.objects.get(pk=pk).title == "Trip plans"  # kept for Undo meanwhile


@pytest.mark.django_db
def test_undo_brings_back_everything(client, alice, chat_with_history):
    before = snapshot(chat_with_history)
    client.force_login(alice)
    answer = delete(client, chat_with_history)
    assert answer["undo_seconds"] > 0
    restored = client.post(answer["undo_url"])
    assert restored.status_code == 200
    assert (
        restored.json()["conversation"]
        == Conversation.objects.get(pk=chat_with_history.pk).as_dict()
    )
    assert snapshot(chat_with_history) == before
    assert listed_ids(client.get("/").content.decode())[0] == chat_with_history.pk  # pinned
    assert client.get(f"/c/{chat_with_history.pk}/").status_code == 200


@pytest.mark.django_db
def test_without_undo_everything_is_gone_for_good(
    client, alice, chat_with_history, settings, monkeypatch
):
    settings.CHAT_UNDO_SECONDS = 0.2
    monkeypatch.setattr(models, "UNDO_GRACE", 0.1)
    client.force_login(alice)
    answer = delete(client, chat_with_history)
    time.sleep(0.4)
    too_late = client.post(answer["undo_url"])
    assert too_late.status_code == 410 and "Too late to undo" in too_late.json()["error"]
    client.get("/")  # the next page anyone loads deletes what is past its window
    assert not Conversation.objects.filter(pk=chat_with_history.pk).exists()
    assert not Message.objects.filter(conversation_id=chat_with_history.pk).exists()


@pytest.mark.django_db
def test_a_deletion_within_its_window_is_not_purged_by_others(client, alice, chat_with_history):
    client.force_login(alice)
    delete(client, chat_with_history)
    Conversation.objects.purge_deleted()
    client.get("/")
    assert Message.objects.filter(conversation_id=chat_with_history.pk).count() == 3


@pytest.mark.django_db
def test_another_user_can_neither_see_nor_undo(client, alice, bob, chat_with_history):
    client.force_login(alice)
    answer = delete(client, chat_with_history)
    bobs = Client()
    bobs.force_login(bob)
    refused = bobs.post(answer["undo_url"])
    assert refused.status_code == 410  # as for a conversation that is not there
    assert chat_with_history.pk not in listed_ids(bobs.get("/").content.decode())
    assert bobs.get(f"/c/{chat_with_history.pk}/").status_code == 404
    assert bobs.post(f"/c/{chat_with_history.pk}/delete/").status_code == 404
    assert Conversation.objects.get(pk=chat_with_history.pk).deleted is not None
    assert client.post(answer["undo_url"]).status_code == 200  # still alice's to undo


@pytest.mark.django_db(transaction=True)
async def test_a_deleted_conversation_cannot_be_opened_or_written_to_by_socket(
    alice, chat_with_history
):
    client = Client()
    await sync_to_async(client.force_login)(alice)
    await sync_to_async(delete)(client, chat_with_history)
    socket = await Socket.open_as(alice)
    await socket.send({"type": "open", "conversation": chat_with_history.pk})
    assert (await socket.recv())["code"] == "not_found"
    await socket.send({"type": "send", "conversation": chat_with_history.pk, "content": "hi"})
    assert (await socket.recv())["code"] == "not_found"
    await socket.close()
    assert await Message.objects.filter(conversation_id=chat_with_history.pk).acount() == 3


@pytest.mark.django_db(transaction=True)
async def test_a_page_open_on_a_deleted_conversation_is_told_at_once(alice, chat_with_history):
    socket = await Socket.open_as(alice)
    await socket.send({"type": "open", "conversation": chat_with_history.pk})
    await socket.recv_until(lambda f: f["type"] == "history")
    client = Client()
    await sync_to_async(client.force_login)(alice)
    await sync_to_async(delete)(client, chat_with_history)
    told = await socket.recv()
    assert told == {"type": "deleted", "conversation": chat_with_history.pk}
    check([told])
    await socket.close()


@pytest.mark.django_db(transaction=True)
async def test_deleting_stops_the_reply_being_written(alice, upstream):
    upstream.queue(text_reply([f"word {i} " for i in range(400)], pause=0.02))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "Write a lot"})
    conversation_id = (await socket.recv())["conversation"]["id"]
    await socket.recv_until(lambda f: f["type"] == "frame" and f.get("text"))
    client = Client()
    await sync_to_async(client.force_login)(alice)
    conversation = await Conversation.objects.aget(pk=conversation_id)
    started = time.monotonic()
    await sync_to_async(delete)(client, conversation)
    end = await socket.recv_until(lambda f: f["type"] == "frame" and "status" in f)
    assert end[-1]["status"] == "stopped"
    assert time.monotonic() - started < 2  # not the 8 s the whole reply would take
    reply = await Message.objects.aget(conversation_id=conversation_id, role="assistant")
    assert reply.status == "stopped" and reply.content.startswith("word 0")
    await socket.close()


# ---------------------------------------------------------------- in Chromium

UNDO_SECONDS = 3

# "Now" for the groups: noon on 15 March 2026 in New York (EDT, UTC-4), 16:00 UTC.
NOW = datetime(2026, 3, 15, 16, 0, tzinfo=UTC)
DATED = [  # title, updated (UTC), its group for a reader in New York
    ("Just now", datetime(2026, 3, 15, 15, 0, tzinfo=UTC), "Today"),
    ("Midnight today", datetime(2026, 3, 15, 4, 0, tzinfo=UTC), "Today"),
    ("A second before", datetime(2026, 3, 15, 3, 59, 59, tzinfo=UTC), "Yesterday"),
    ("Yesterday morning", datetime(2026, 3, 14, 4, 0, tzinfo=UTC), "Yesterday"),
    ("Two days back", datetime(2026, 3, 14, 3, 59, tzinfo=UTC), "Previous 7 days"),
    ("A week back", datetime(2026, 3, 8, 12, 0, tzinfo=UTC), "Previous 7 days"),
    ("Eight days back", datetime(2026, 3, 7, 12, 0, tzinfo=UTC), "Previous 30 days"),
    ("Thirty days back", datetime(2026, 2, 13, 6, 0, tzinfo=UTC), "Previous 30 days"),
    ("Thirty-one days back", datetime(2026, 2, 12, 12, 0, tzinfo=UTC), "February 2026"),
    ("Last Christmas", datetime(2025, 12, 25, 12, 0, tzinfo=UTC), "December 2025"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_upstream):
    with running_site(
        tmp_path_factory.mktemp("site"),
        {
            "OPENAI_BASE_URL": live_upstream.url,
            "OPENAI_API_KEY": "sk-sidebar",
            "CHAT_UNDO_SECONDS": str(UNDO_SECONDS),
        },
        users=("alice", "bob"),
    ) as live:
        yield live


@pytest.fixture(autouse=True)
def unscripted(live_upstream):
    live_upstream.replies.clear()


def run(site, code: str) -> str:
    """The last line `code` prints in the site's shell."""
    return site.manage("shell", "-c", code).strip().splitlines()[-1]


def fresh_conversations(site, rows: list[tuple[str, datetime, bool]]) -> None:
    """Only these conversations for alice: (title, updated, pinned)."""
    run(
        site,
        "from datetime import datetime; from django.contrib.auth import get_user_model; "
        "from chat.models import Conversation, Message; "
        "alice = get_user_model().objects.get(username='alice'); "
        "Conversation.objects.filter(user=alice).delete(); "
        f"rows = {[(t, u.isoformat(), p) for t, u, p in rows]!r}; "
        "made = [Conversation.objects.create(user=alice, title=t, "
        "updated=datetime.fromisoformat(u), pinned=datetime.fromisoformat(u) if p else None) "
        "for t, u, p in rows]; "
        "[Message.objects.create(conversation=c, role='user', content=f'About {c.title}') "
        "for c in made]",
    )


def state(site, title: str) -> str:
    """'live', 'deleted' (within Undo) or 'gone', and its messages."""
    return run(
        site,
        "from chat.models import Conversation; "
        f"c = Conversation.objects.filter(title={title!r}).first(); "
        "print('gone' if c is None else ('deleted' if c.deleted else 'live'), "
        "c.messages.count() if c else 0)",
    )


@pytest.fixture
def page(browser):
    with browser_page(browser, timezone_id="America/New_York") as page:
        yield page


def groups(page) -> list[tuple[str, list[str]]]:
    """The sidebar as its reader sees it: each heading with the titles under it."""
    return page.eval_on_selector(
        "#conv-list",
        """list => {
          const out = [];
          for (const li of list.children) {
            if (li.matches('.conv-group')) out.push([li.textContent.trim(), []]);
            else if (li.matches('.conv-item'))
              out.at(-1)[1].push(li.querySelector('.conv-link').textContent);
          }
          return out;
        }""",
    )


def item(page, title: str):
    return page.locator("#conv-list .conv-item", has_text=title)


def focused(page) -> str:
    return page.evaluate(
        "(() => { const e = document.activeElement; "
        "return (e.getAttribute('aria-label') || e.textContent).trim(); })()"
    )


@pytest.mark.browser
def test_groups_follow_the_readers_days_and_pins_come_first(page, site):
    fresh_conversations(
        site,
        [(t, u, False) for t, u, _ in DATED]
        + [("Pinned long ago", datetime(2024, 1, 1, tzinfo=UTC), True)],
    )
    page.clock.set_fixed_time(NOW)
    log_in(page, site)
    expected: list[tuple[str, list[str]]] = [("Pinned", ["Pinned long ago"])]
    for title, _, group in DATED:
        if expected[-1][0] != group:
            expected.append((group, []))
        expected[-1][1].append(title)
    assert groups(page) == [[g, titles] for g, titles in expected]
    # A heading is a heading for screen readers, and not a conversation of the list.
    assert page.locator("#conv-list .conv-group[role=presentation] h2").count() == len(expected)
    assert page.errors == []


@pytest.mark.browser
def test_the_menu_works_from_the_keyboard(page, site):
    now = datetime.now(UTC)
    fresh_conversations(
        site, [(f"Topic {i}", now - timedelta(minutes=10 - i), False) for i in range(6)]
    )
    log_in(page, site)
    page.focus("#conv-list .conv-item:has-text('Topic 2') .conv-link")
    page.keyboard.press("Tab")
    button = item(page, "Topic 2").locator(".conv-menu-btn")
    expect(button).to_be_focused()
    assert button.get_attribute("aria-haspopup") == "menu"
    assert button.get_attribute("aria-expanded") == "false"

    page.keyboard.press("Enter")
    menu = page.locator("#conv-list [role=menu]")
    expect(menu).to_be_visible()
    assert button.get_attribute("aria-expanded") == "true"
    assert button.get_attribute("aria-controls") == menu.get_attribute("id")
    assert menu.locator("[role=menuitem]").all_inner_texts() == [
        "Rename",
        "Pin",
        "Export as Markdown",
        "Export as JSON",
        "Delete",
    ]
    assert focused(page) == "Rename"
    page.keyboard.press("ArrowDown")
    assert focused(page) == "Pin"
    page.keyboard.press("End")
    assert focused(page) == "Delete"
    page.keyboard.press("ArrowDown")  # round to the top
    assert focused(page) == "Rename"
    page.keyboard.press("Escape")
    expect(menu).to_have_count(0)
    expect(button).to_be_focused()
    assert button.get_attribute("aria-expanded") == "false"

    page.keyboard.press("ArrowUp")  # opens on the last item
    assert focused(page) == "Delete"
    page.keyboard.press("Home")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # Pin
    expect(page.locator("#conv-list .conv-item").first).to_have_text(re.compile("Topic 2"))
    assert groups(page)[0] == ["Pinned", ["Topic 2"]]
    expect(button).to_be_focused()  # it moved, and the keyboard went with it
    assert "live" in state(site, "Topic 2")
    assert (
        run(
            site,
            "from chat.models import Conversation; "
            "print(Conversation.objects.get(title='Topic 2').pinned is not None)",
        )
        == "True"
    )

    page.keyboard.press("Enter")
    menu.locator("[role=menuitem]", has_text="Unpin").wait_for()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # Unpin: back in its place by date
    expect(page.locator("#conv-list .conv-group")).to_have_count(1)
    assert page.locator("#conv-list .conv-link").all_inner_texts() == [
        f"Topic {i}" for i in reversed(range(6))
    ]

    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # Rename
    rename = item(page, "Topic 2").locator(".conv-rename-input")
    expect(rename).to_be_focused()
    page.keyboard.type("Renamed by keyboard")
    page.keyboard.press("Enter")
    page.wait_for_selector("#conv-title:has-text('Renamed by keyboard')")

    # Tab out of an open menu closes it and goes on from its button.
    item(page, "Topic 4").locator(".conv-link").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    page.keyboard.press("Tab")
    expect(menu).to_have_count(0)
    assert page.errors == []


@pytest.mark.browser
def test_delete_then_undo_restores_everything(page, site):
    now = datetime.now(UTC)
    fresh_conversations(
        site, [(f"Topic {i}", now - timedelta(minutes=10 - i), i == 1) for i in range(5)]
    )
    log_in(page, site)
    before = page.locator("#conv-list .conv-link").all_inner_texts()
    target = item(page, "Topic 3")
    target.locator(".conv-link").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")  # Delete
    expect(target).to_have_count(0)
    assert state(site, "Topic 3") == "deleted 1"
    toast = page.locator(".toast", has_text="Deleted “Topic 3”.")
    undo = toast.locator("button", has_text="Undo")
    expect(undo).to_be_focused()  # the keyboard can undo at once
    page.keyboard.press("Enter")
    expect(toast).to_have_count(0)
    expect(page.locator("#conv-list .conv-link")).to_have_text(before)
    assert state(site, "Topic 3") == "live 1"
    expect(item(page, "Topic 3").locator(".conv-link")).to_be_focused()

    # A reload lists it as before: nothing was lost.
    page.reload()
    expect(page.locator("#conv-list .conv-link")).to_have_text(before)
    assert page.errors == []


@pytest.mark.browser
def test_delete_without_undo_removes_everything(page, site):
    now = datetime.now(UTC)
    fresh_conversations(
        site, [(f"Topic {i}", now - timedelta(minutes=10 - i), False) for i in range(3)]
    )
    log_in(page, site)
    target = item(page, "Topic 1")
    target.hover()
    target.locator(".conv-menu-btn").click()
    target.locator("[role=menuitem]", has_text="Delete").click()
    toast = page.locator(".toast", has_text="Deleted “Topic 1”.")
    toast.wait_for()
    expect(toast).to_have_count(0, timeout=(UNDO_SECONDS + 2) * 1000)  # the offer ends
    page.reload()
    assert "Topic 1" not in page.locator("#conv-list .conv-link").all_inner_texts()
    time.sleep(models.UNDO_GRACE + 0.5)  # the server's last moment for a late Undo
    page.reload()  # the next request deletes it for good
    assert state(site, "Topic 1") == "gone 0"
    assert (
        run(
            site,
            "from chat.models import Message; "
            "print(Message.objects.filter(content='About Topic 1').count())",
        )
        == "0"
    )
    assert page.errors == []


@pytest.mark.browser
def test_deleting_the_open_conversation_stops_its_reply_and_undo_brings_it_back(
    page, site, live_upstream
):
    fresh_conversations(site, [])
    live_upstream.queue(text_reply([f"word {i} " for i in range(600)], pause=0.02))
    log_in(page, site)
    send(page, "Write for a long time")
    page.wait_for_selector("article[data-role=assistant] >> text=word 3")
    current = page.locator("#conv-list .conv-item.is-current")
    current.hover()
    current.locator(".conv-menu-btn").click()
    current.locator("[role=menuitem]", has_text="Delete").click()
    page.wait_for_url(site.url + "/")  # the page leaves it; the next one offers Undo
    undo = page.locator(".toast", has_text="Deleted “Write for a long time”.").locator("button")
    expect(undo).to_be_focused()
    assert page.locator("#conv-list .conv-item").count() == 0
    # The reply was stopped, not left writing into a conversation nobody sees.
    deadline = time.monotonic() + 5
    status = ""
    while status != "stopped" and time.monotonic() < deadline:
        status = run(
            site,
            "from chat.models import Message; print(Message.objects.get(role='assistant').status)",
        )
    assert status == "stopped"
    undo.click()
    page.wait_for_url(re.compile(r"/c/\d+/$"))
    page.wait_for_selector("article[data-role=user] >> text=Write for a long time")
    page.wait_for_selector(".msg-notice-text:has-text('Stopped.')")
    assert page.locator("#conv-list .conv-item.is-current").count() == 1
    assert page.errors == []


@pytest.mark.browser
def test_another_tab_on_the_conversation_lets_it_go_when_it_is_deleted(page, site, browser):
    fresh_conversations(site, [("Shared", datetime.now(UTC), False), ("Other", NOW, False)])
    log_in(page, site)
    pk = run(
        site,
        "from chat.models import Conversation; print(Conversation.objects.get(title='Shared').pk)",
    )
    second = page.context.new_page()
    second.goto(f"{site.url}/c/{pk}/")
    second.wait_for_selector("article[data-role=user] >> text=About Shared")
    target = item(page, "Shared")
    target.hover()
    target.locator(".conv-menu-btn").click()
    target.locator("[role=menuitem]", has_text="Delete").click()
    second.wait_for_url(site.url + "/")  # at once, not at its next send
    assert "Shared" not in second.locator("#conv-list .conv-link").all_inner_texts()
    page.locator(".toast button", has_text="Undo").click()  # the deleting tab keeps its Undo
    expect(item(page, "Shared")).to_have_count(1)
    assert state(site, "Shared") == "live 1"
    assert page.errors == []


@pytest.mark.browser
def test_another_user_never_sees_a_deleted_conversation_or_its_undo(page, site, browser):
    fresh_conversations(site, [("Private", datetime.now(UTC), False)])
    log_in(page, site)
    pk = run(
        site,
        "from chat.models import Conversation; print(Conversation.objects.get(title='Private').pk)",
    )
    target = item(page, "Private")
    target.hover()
    target.locator(".conv-menu-btn").click()
    target.locator("[role=menuitem]", has_text="Delete").click()
    page.locator(".toast").wait_for()
    other = browser.new_context()
    bobs = other.new_page()
    try:
        log_in(bobs, site, "bob", "bob-password-1")
        assert bobs.locator("#conv-list .conv-item").count() == 0
        assert bobs.goto(f"{site.url}/c/{pk}/").status == 404
        bobs.goto(site.url + "/")
        token = bobs.eval_on_selector("#conv-list", "list => list.dataset.csrf")
        refused = bobs.request.post(
            f"{site.url}/c/{pk}/undo-delete/",
            headers={"X-CSRFToken": token, "Referer": site.url + "/"},
        )
        assert refused.status == 410
        assert state(site, "Private") == "deleted 1"
    finally:
        close_context(other)
    assert page.errors == []
