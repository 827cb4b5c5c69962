"""The usage pages: a user's own month (tokens and cost against the quota, a chart by day,
by model, the conversations that used the most) and the staff's (by user, by model, by day,
CSV); nobody sees another's figures unless staff with the permission."""

import calendar
import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission

from chat.models import Conversation, Message, UsageDay
from chat.usage import parse_prices

pytestmark = pytest.mark.django_db

TODAY = datetime.now(UTC).date()


@pytest.fixture
def used(alice, bob, settings):
    settings.CHAT_PRICES = parse_prices("gpt-4o=2/10")
    settings.CHAT_QUOTA_MONTHLY_TOKENS = 10_000
    UsageDay.objects.create(
        user=alice,
        day=TODAY,
        model="gpt-4o",
        prompt_tokens=1000,
        completion_tokens=500,
        rounds=2,
    )
    UsageDay.objects.create(
        user=alice,
        day=TODAY,
        model="llama3",
        prompt_tokens=40,
        completion_tokens=2,
        rounds=1,
        estimated_rounds=1,
    )
    UsageDay.objects.create(user=bob, day=TODAY, model="=cmd()", prompt_tokens=777)
    chatty = Conversation.objects.create(user=alice, title="Chatty one")
    Message.objects.create(
        conversation=chatty, role="assistant", content="x", usage={"total_tokens": 1500}
    )


def test_a_user_sees_their_month(client, alice, used):
    client.force_login(alice)
    page = client.get("/usage/").content.decode()
    assert "This month: <strong>1542</strong> tokens" in page
    assert "cost <strong>0.0070</strong>" in page  # 1000 at 2 and 500 at 10 per million
    assert "1 of 3 replies' counts are estimated" in page
    assert "(no price: llama3)" in page
    assert 'max="10000" value="1542"' in page  # the month's quota
    assert page.count('class="usage-bar"') == calendar.monthrange(TODAY.year, TODAY.month)[1]
    assert "Chatty one</a> · 1500 tokens" in page
    assert "777" not in page  # bob's use is not hers


def test_another_month_is_chosen_by_its_name_and_nonsense_means_this_one(client, alice, used):
    client.force_login(alice)
    assert "Your usage, January 2020" in client.get("/usage/?month=2020-01").content.decode()
    this_month = f"Your usage, {TODAY:%B %Y}"
    for bad in ("2020-13", "x", "-1-1", ""):
        assert this_month in client.get("/usage/", {"month": bad}).content.decode()


def test_the_usage_pages_need_a_login(client):
    for path in ("/usage/", "/usage/all/", "/usage/all.csv"):
        assert client.get(path).status_code == 302


def test_staff_need_the_permission_to_see_everyones_usage(client, django_user_model, used):
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get("/usage/all/").status_code == 403
    assert client.get("/usage/all.csv").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_usageday"))
    client.force_login(django_user_model.objects.get(pk=staff.pk))
    page = client.get("/usage/all/").content.decode()
    assert "Everyone: <strong>2319</strong> tokens" in page
    assert ">alice</th>" in page and ">bob</th>" in page


def test_the_csv_has_a_row_per_user_day_and_model_and_runs_no_formula(admin_client, used):
    response = admin_client.get(f"/usage/all.csv?month={TODAY:%Y-%m}")
    assert response["Content-Disposition"] == f'attachment; filename="usage-{TODAY:%Y-%m}.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {(r["user"], r["model"], r["prompt_tokens"], r["priced"]) for r in rows} == {
        ("alice", "gpt-4o", "1000", "yes"),
        ("alice", "llama3", "40", "no"),
        ("bob", "'=cmd()", "777", "no"),
    }
