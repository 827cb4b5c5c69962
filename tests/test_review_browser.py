"""Review in a real browser (daphne with DEBUG off, Chromium, the site's CSP): a reviewer
in the migrated group reads a conversation and gives a reason with the page's form; the user
sees the read on the conversation's page. tests/test_review.py holds the rest."""

import pytest

from tests.live import close_context, log_in, start_site

# ---------------------------------------------------------------- in a real browser

SEED = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from chat.models import Conversation, Message
U = get_user_model()
U.objects.create_user("alice", password="alice-password-1")
rita = U.objects.create_user("rita", password="rita-password-1", is_staff=True)
rita.groups.add(Group.objects.get(name="Conversation reviewers"))
c = Conversation.objects.create(user=U.objects.get(username="alice"), title="Alice's plans")
Message.objects.create(conversation=c, role="user", content="Alice's private question")
Message.objects.create(conversation=c, role="assistant", content="**Alice's** private answer")
print(c.pk)
"""

ENTRIES = """
from chat.audit import AuditEntry
for e in AuditEntry.objects.order_by("id"):
    print(e.reviewer_name, e.page, e.conversation_pk, repr(e.reason), sep="|")
"""


@pytest.fixture(scope="module")
def review_site(tmp_path_factory):
    live = start_site(tmp_path_factory.mktemp("review-site"), {})
    conversation = int(live.manage("shell", "-c", SEED).split()[-1])
    yield live, conversation
    live.stop()


@pytest.mark.browser
def test_a_reviewer_reads_gives_a_reason_and_the_user_sees_it(browser, review_site):
    """The migrated group lets rita in; the reason form records its read; alice's page says
    so quietly; nothing is refused by the CSP on either page."""
    site, pk = review_site
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    # The CSP's refusals are console errors; the admin's missing /favicon.ico is one too,
    # and no business of ours, so failed loads are counted by response instead.
    page.on("console", lambda m: "Refused" in m.text and problems.append(m.text))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))

    page.goto(site.url + "/admin/login/")
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", "rita-password-1")
    page.press("input[name=password]", "Enter")
    page.goto(f"{site.url}/admin/chat/conversation/{pk}/change/")
    page.locator(".chat-transcript .md strong", has_text="Alice's").wait_for()
    page.fill("#review-reason", "Abuse report 42")
    page.click(".review-reason button[type=submit]")
    page.wait_for_url(f"**/conversation/{pk}/change/?reason=Abuse+report+42")
    page.locator(".chat-transcript .md strong").wait_for()
    assert page.input_value("#review-reason") == "Abuse report 42"
    lines = site.manage("shell", "-c", ENTRIES).splitlines()[-2:]
    assert lines == [f"rita|conversation|{pk}|''", f"rita|conversation|{pk}|'Abuse report 42'"]

    context.clear_cookies()
    log_in(page, site)
    page.goto(f"{site.url}/c/{pk}/")
    note = page.locator("#review-note")
    assert note.inner_text().startswith("Read by staff 2 times, last on ")
    assert "rita" not in page.content()
    assert note.evaluate("e => getComputedStyle(e).fontSize") == "13px"  # styled: CSS loaded
    assert problems == []
    close_context(context)
