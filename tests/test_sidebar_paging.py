"""The sidebar lists a page of conversations and loads the rest as it scrolls: the page
carries only the first page, the list endpoint pages by keyset (a conversation moving to
the top meanwhile is neither repeated nor makes another skipped), only ever the user's own,
and in Chromium scrolling (or the "Load more" button) brings the rest, rename and delete
working on every item."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat import paging
from chat.models import Conversation
from tests.live import create_user, log_in, start_site

PAGE = paging.PAGE_SIZE


def many(user, count: int, *, ties: int = 1) -> list[Conversation]:
    """`count` conversations of `user`, newest first; `ties` of them at a time share one
    `updated`, so the order also rests on the id."""
    start = timezone.now() - timedelta(days=30)
    Conversation.objects.bulk_create(
        Conversation(user=user, title=f"Topic {i}", updated=start + timedelta(seconds=i // ties))
        for i in range(count)
    )
    return list(Conversation.objects.owned_by(user).order_by("-updated", "-id"))


def touch(conversation: Conversation) -> None:
    """It gets a message: as chat/replies.py saves one, it moves to the top."""
    Conversation.objects.filter(pk=conversation.pk).update(updated=timezone.now())


def listed_ids(html: str) -> list[int]:
    """The conversations in the page's sidebar, in order (the <template> has no id)."""
    sidebar = html[html.index('id="conv-list"') : html.index('id="conv-more"')]
    return [int(pk) for pk in re.findall(r'class="conv-item[^"]*" data-id="(\d+)"', sidebar)]


def next_cursor(html: str) -> str | None:
    match = re.search(r'id="conv-more" data-next="([^"]+)"', html)
    return match.group(1) if match else None


def every_page(client, after: str | None, between=None) -> list[int]:
    """The ids from the list endpoint, page after page from `after` to the end;
    `between(n)` runs after the n-th page."""
    ids, pages = [], 0
    while after is not None:
        response = client.get("/c/", {"after": after})
        assert response.status_code == 200, response.content
        data = response.json()
        assert len(data["conversations"]) <= PAGE
        ids += [conv["id"] for conv in data["conversations"]]
        after, pages = data["next"], pages + 1
        if between:
            between(pages)
    return ids


# ---------------------------------------------------------------- the page and the endpoint


@pytest.mark.django_db
def test_the_page_carries_only_the_first_page_of_400_conversations(client, alice):
    newest_first = many(alice, 400)
    client.force_login(alice)
    response = client.get("/")
    html = response.content.decode()
    assert listed_ids(html) == [c.pk for c in newest_first[:PAGE]]
    assert next_cursor(html) == paging.cursor(newest_first[PAGE - 1])
    # It was about 520 KB with all 400 listed.
    assert len(response.content) < 100_000, len(response.content)


@pytest.mark.django_db
def test_an_older_current_conversation_is_listed_marked_below_the_first_page(client, alice):
    newest_first = many(alice, 400)
    old = newest_first[300]
    client.force_login(alice)
    html = client.get(old.get_absolute_url()).content.decode()
    assert listed_ids(html) == [c.pk for c in newest_first[:PAGE]] + [old.pk]
    assert f'class="conv-item is-current is-below" data-id="{old.pk}"' in html
    assert f'href="/c/{old.pk}/" aria-current="page"' in html
    # The rest still starts right after the first page: the old one comes again in its place
    # (the page then keeps the one it has).
    assert next_cursor(html) == paging.cursor(newest_first[PAGE - 1])


@pytest.mark.django_db
def test_a_current_conversation_in_the_first_page_is_marked_in_its_place(client, alice):
    newest_first = many(alice, 60)
    client.force_login(alice)
    html = client.get(newest_first[3].get_absolute_url()).content.decode()
    assert listed_ids(html) == [c.pk for c in newest_first[:PAGE]]
    assert f'class="conv-item is-current" data-id="{newest_first[3].pk}"' in html
    assert "is-below" not in html.split('data-template="conv-item"')[0]


@pytest.mark.django_db
def test_a_short_list_has_no_next_page(client, alice):
    many(alice, 3)
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert len(listed_ids(html)) == 3
    assert next_cursor(html) is None
    assert re.search(r'id="conv-more" hidden', html)


@pytest.mark.django_db
def test_the_endpoint_pages_through_all_400_exactly_once_while_one_moves_to_the_top(client, alice):
    newest_first = many(alice, 400, ties=3)
    client.force_login(alice)
    html = client.get("/").content.decode()
    seen = listed_ids(html)

    def meanwhile(pages: int) -> None:
        if pages == 2:  # one already listed gets a message, and a new one is started
            touch(newest_first[70])
            Conversation.objects.create(user=alice, title="Started in another tab")

    seen += every_page(client, next_cursor(html), meanwhile)
    assert sorted(seen) == sorted(c.pk for c in newest_first)
    assert len(seen) == len(set(seen)) == 400
    assert seen == [c.pk for c in newest_first]  # newest first, as they stood


@pytest.mark.django_db
def test_one_not_yet_listed_moving_to_the_top_neither_repeats_nor_skips_another(client, alice):
    newest_first = many(alice, 400)
    moved = newest_first[250]
    client.force_login(alice)
    html = client.get("/").content.decode()
    seen = listed_ids(html)
    seen += every_page(client, next_cursor(html), lambda pages: pages == 1 and touch(moved))
    others = [c.pk for c in newest_first if c != moved]
    # Every other one exactly once, in order; the moved one is now above where the list
    # started (an offset would have shown one twice), and a fresh list starts with it.
    assert [pk for pk in seen if pk != moved.pk] == others
    assert moved.pk not in seen
    assert client.get("/c/").json()["conversations"][0]["id"] == moved.pk


@pytest.mark.django_db
def test_the_endpoint_without_a_cursor_is_the_first_page(client, alice):
    newest_first = many(alice, 60)
    client.force_login(alice)
    data = client.get("/c/").json()
    assert [c["id"] for c in data["conversations"]] == [c.pk for c in newest_first[:PAGE]]
    assert data["conversations"][0] == newest_first[0].as_dict()
    assert data["next"] == paging.cursor(newest_first[PAGE - 1])


@pytest.mark.django_db
def test_the_page_after_the_last_is_empty_not_missing(client, alice):
    newest_first = many(alice, 5)
    client.force_login(alice)
    response = client.get("/c/", {"after": paging.cursor(newest_first[-1])})
    assert response.status_code == 200
    assert response.json() == {"conversations": [], "next": None}
    Conversation.objects.all().delete()
    assert client.get("/c/").json() == {"conversations": [], "next": None}


@pytest.mark.django_db
def test_another_users_conversations_never_appear(client, alice, bob):
    many(alice, 120)
    bobs = {c.pk for c in many(bob, 120)}
    client.force_login(alice)
    html = client.get("/").content.decode()
    seen = listed_ids(html) + every_page(client, next_cursor(html))
    assert len(seen) == 120 and not bobs & set(seen)
    # Nor through a cursor taken from one of bob's conversations.
    bobs_cursor = paging.cursor(Conversation.objects.get(pk=max(bobs)))
    assert not bobs & set(every_page(client, bobs_cursor))
    # Nor his old conversation, opened by id, in alice's sidebar.
    assert client.get(f"/c/{min(bobs)}/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "x",
        "12-",
        "-12",
        "1.5-3",
        "12-3-4",
        "99999999999999999999-1",  # more digits than any moment
        "9999999999999999999-1",  # after the year 9999
        "1-99999999999999999999",
        "1-9999999999999999999",  # past the largest id a database holds
        "\uff11\uff12-\uff13",  # digits, but not ASCII ones
        "1-2\x00",
        "1" * 5000,
    ],
)
def test_a_bad_cursor_is_a_clear_400(client, alice, cursor):
    many(alice, 3)
    client.force_login(alice)
    response = client.get("/c/", {"after": cursor})
    assert response.status_code == 400
    assert "not a place in the conversation list" in response.json()["error"]


@pytest.mark.django_db
def test_the_endpoint_needs_a_login_and_only_reads(client, alice):
    many(alice, 3)
    response = client.get("/c/")
    assert response.status_code == 401
    assert "logged out" in response.json()["error"]
    client.force_login(alice)
    assert client.post("/c/").status_code == 405
    assert "no-cache" in client.get("/c/")["Cache-Control"]


# ---------------------------------------------------------------- in Chromium

COUNT = 130  # two pages to load after the first


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    live = start_site(tmp_path_factory.mktemp("site"), {})
    create_user(live, "alice", "alice-password-1")
    live.manage(
        "shell",
        "-c",
        "from datetime import timedelta; from django.utils import timezone; "
        "from django.contrib.auth import get_user_model; from chat.models import Conversation; "
        "alice = get_user_model().objects.get(username='alice'); "
        "start = timezone.now() - timedelta(days=30); "
        "Conversation.objects.bulk_create(Conversation(user=alice, title=f'Topic {i}', "
        f"updated=start + timedelta(minutes=i)) for i in range({COUNT}))",
    )
    yield live
    live.stop()


def titles(page) -> list[str]:
    return page.locator("#conv-list .conv-link").all_inner_texts()


def shows(page, count: int) -> None:
    """Until the sidebar lists exactly `count` conversations."""
    expect(page.locator("#conv-list .conv-item")).to_have_count(count)


def choose(item, action: str) -> None:
    """`action` from the item's ⋯ menu, as a mouse user does."""
    item.hover()
    item.locator(".conv-menu-btn").click()
    item.locator(".conv-menu [role=menuitem]", has_text=action).click()


def scroll_sidebar_to_end(page) -> None:
    page.eval_on_selector(".conv-nav", "nav => { nav.scrollTop = nav.scrollHeight; }")


def conversation_url(site, title: str) -> str:
    out = site.manage(
        "shell",
        "-c",
        "from chat.models import Conversation; "
        f"print(Conversation.objects.get(title={title!r}).pk)",
    )
    return f"{site.url}/c/{out.split()[-1]}/"


@pytest.mark.browser
def test_scrolling_the_sidebar_loads_the_rest_once_each(page, site):
    log_in(page, site)
    expected = [f"Topic {i}" for i in reversed(range(COUNT))]
    assert titles(page) == expected[:PAGE]
    for shown in (2 * PAGE, COUNT):
        scroll_sidebar_to_end(page)
        shows(page, shown)
    assert titles(page) == expected
    page.wait_for_selector("#conv-more", state="hidden")
    assert page.errors == []


@pytest.mark.browser
def test_an_old_current_conversation_is_shown_marked_then_found_in_its_place(page, site):
    log_in(page, site)
    page.goto(conversation_url(site, "Topic 20"))  # the 110th newest
    current = page.locator("#conv-list .conv-item.is-current")
    assert current.count() == 1 and current.inner_text().startswith("Topic 20")
    assert "is-below" in current.get_attribute("class")
    assert titles(page)[-1] == "Topic 20" and len(titles(page)) == PAGE + 1
    scroll_sidebar_to_end(page)
    shows(page, 2 * PAGE + 1)
    scroll_sidebar_to_end(page)
    shows(page, COUNT)
    assert titles(page) == [f"Topic {i}" for i in reversed(range(COUNT))]
    assert "is-below" not in current.get_attribute("class")
    assert current.locator(".conv-link").get_attribute("aria-current") == "page"
    assert page.errors == []


@pytest.mark.browser
def test_load_more_works_from_the_keyboard_without_an_intersection_observer(page, site):
    page.add_init_script("delete window.IntersectionObserver;")
    log_in(page, site)
    scroll_sidebar_to_end(page)
    page.wait_for_timeout(300)
    assert len(titles(page)) == PAGE  # nothing loads by itself without the observer
    page.focus("#conv-more")
    page.keyboard.press("Enter")
    shows(page, 2 * PAGE)
    # Focus goes to the first conversation loaded, so the keyboard carries on from there.
    assert page.evaluate("document.activeElement.textContent") == f"Topic {COUNT - PAGE - 1}"
    page.focus("#conv-more")
    page.keyboard.press("Enter")
    page.wait_for_selector("#conv-more", state="hidden")
    assert len(titles(page)) == COUNT
    assert page.errors == []


@pytest.mark.browser
def test_a_failed_page_says_so_and_the_button_tries_again(page, site):
    log_in(page, site)
    page.route("**/c/?after=*", lambda route: route.abort())
    scroll_sidebar_to_end(page)
    page.wait_for_selector(".notice-text:has-text('Could not load more conversations')")
    assert page.inner_text("#conv-more") == "Load more (failed, try again)"
    page.unroute("**/c/?after=*")
    page.click("#conv-more")
    shows(page, 2 * PAGE)


@pytest.mark.browser
def test_a_loaded_conversation_can_be_renamed_and_deleted(page, site):
    log_in(page, site)
    scroll_sidebar_to_end(page)
    shows(page, 2 * PAGE)
    item = page.locator("#conv-list .conv-item", has_text="Topic 75")  # from the second page
    choose(item, "Rename")
    item.locator(".conv-rename-input").fill("Renamed from page two")
    item.locator(".conv-rename-input").press("Enter")
    page.wait_for_selector("#conv-title:has-text('Renamed from page two')")
    renamed = page.locator("#conv-list .conv-item.is-current")
    assert renamed.inner_text().startswith("Renamed from page two")

    scroll_sidebar_to_end(page)
    shows(page, 2 * PAGE)
    doomed = page.locator("#conv-list .conv-item", has_text="Topic 60")
    choose(doomed, "Delete")
    expect(doomed).to_have_count(0)
    page.wait_for_selector(".toast:has-text('Deleted “Topic 60”')")
    gone = site.manage(
        "shell",
        "-c",
        "from chat.models import Conversation; "
        "print(Conversation.objects.filter(title='Topic 60', deleted__isnull=False).count())",
    )
    assert gone.split()[-1] == "1"
    assert page.errors == []


@pytest.mark.browser
def test_a_title_that_cannot_be_saved_is_refused_in_words(page, site):
    log_in(page, site)
    item = page.locator("#conv-list .conv-item").first
    before = item.inner_text()
    choose(item, "Rename")
    # A browser sends a NUL in a form as it is (%00); PostgreSQL cannot store one.
    item.locator(".conv-rename-input").evaluate("input => { input.value = 'Bad\\u0000title'; }")
    item.locator(".conv-rename-input").press("Enter")
    notice = page.locator("#notices .notice", has_text="The title was not changed")
    notice.wait_for()
    assert "NUL character" in notice.inner_text()
    assert page.locator("#conv-list .conv-item").first.inner_text() == before
    notice.locator(".notice-close").click()
    assert page.locator("#notices .notice").count() == 0
    assert page.errors == []
