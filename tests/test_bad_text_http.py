"""Text the database cannot store, posted over HTTP, is refused in words and never a 500:
a NUL (PostgreSQL refuses it) or a lone surrogate (no driver can encode it; a form posted
as UTF-7 or unicode_escape carries one) in a rename, a login (the site's or the admin's)
or a sign-up. Each case runs against a real daphne on SQLite and on the machine's
PostgreSQL. (Messages and system prompts come over the websocket and are tested there.)"""

from __future__ import annotations

import re
from contextlib import closing

import httpx
import pytest

from tests import services
from tests.live import create_user, start_site

# A field's value as a browser or a hand-written client might post it: (content type,
# body). {name} is the field, {value} stands for "a", the bad character, "b".
NUL_FORM = ("application/x-www-form-urlencoded", "{name}=a%00b")


def multipart(charset: str, encoded: bytes) -> tuple[str, bytes]:
    return (
        f"multipart/form-data; boundary=XYZ; charset={charset}",
        b'--XYZ\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        + encoded
        + b"\r\n--XYZ--\r\n",
    )


BAD_VALUES = {
    "NUL in a form": (NUL_FORM, "a NUL character (U+0000)"),
    "NUL in multipart": (multipart("utf-8", b"a\x00b"), "a NUL character (U+0000)"),
    "surrogate as UTF-7": (
        multipart("utf-7", b"a+2AA-b"),
        "half of a character (an unpaired surrogate, U+D800)",
    ),
    "surrogate as unicode_escape": (
        multipart("unicode_escape", b"a\\udfffb"),
        "half of a character (an unpaired surrogate, U+DFFF)",
    ),
}


def body(case: str, **fields: str) -> tuple[str, bytes]:
    """The bad value in field `bad`, plus the other `fields` (plain ASCII)."""
    (content_type, template), _ = BAD_VALUES[case]
    bad = fields.pop("bad")
    if isinstance(template, str):
        text = template.format(name=bad) + "".join(f"&{k}={v}" for k, v in fields.items())
        return content_type, text.encode()
    data = template.replace(b"{name}", bad.encode())
    for key, value in fields.items():
        data = data.replace(
            b"--XYZ--",
            b'--XYZ\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n--XYZ--'
            % (key.encode(), value.encode()),
        )
    return content_type, data


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def site(request, tmp_path_factory):
    env = {"CHAT_ALLOW_SIGNUP": "true"}
    database = None
    if request.param == "postgres":
        admin, database = services.postgres_database()
        env["DATABASE_URL"] = services.POSTGRES + database
    live = start_site(tmp_path_factory.mktemp(request.param), env)
    try:
        create_user(live, "alice", "alice-password-1")
        yield live
        log = live.log.read_text()
        assert "Traceback" not in log and "Internal Server Error" not in log, log
    finally:
        live.stop()
        if database:
            services.drop_database(admin, database)


def visitor(site) -> httpx.Client:
    """A client with the site's CSRF cookie, sending its token with every post."""
    client = httpx.Client(base_url=site.url, follow_redirects=False, timeout=10)
    client.get("/accounts/login/")
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


def logged_in(site) -> httpx.Client:
    client = visitor(site)
    response = client.post(
        "/accounts/login/", data={"username": "alice", "password": "alice-password-1"}
    )
    assert response.status_code == 302, response.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]  # a new one for the session
    return client


def post(client: httpx.Client, url: str, case: str, **fields: str) -> httpx.Response:
    content_type, data = body(case, **fields)
    return client.post(url, content=data, headers={"Content-Type": content_type})


def new_conversation(site, title: str) -> int:
    out = site.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; from chat.models import Conversation; "
        "alice = get_user_model().objects.get(username='alice'); "
        f"print(Conversation.objects.create(user=alice, title={title!r}).pk)",
    )
    return int(out.split()[-1])


def notices(html: str) -> list[str]:
    """The error notices the page shows (the empty one is the <template>'s)."""
    return [text for text in re.findall(r'<p class="notice-text">(.*?)</p>', html) if text]


def sidebar_title(html: str, pk: int) -> str:
    return re.search(rf'data-id="{pk}">\s*<a class="conv-link"[^>]*>(.*?)</a>', html).group(1)


@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_rename_with_unsavable_text_is_refused_in_words(site, case):
    pk = new_conversation(site, "Trip plans")
    with closing(logged_in(site)) as client:
        response = post(client, f"/c/{pk}/rename/", case, bad="title")
        assert response.status_code == 302 and response.headers["Location"] == f"/c/{pk}/"
        page = client.get(f"/c/{pk}/").text
        _, problem = BAD_VALUES[case]
        assert notices(page) == [f"The title was not changed: it contains {problem}."]
        assert sidebar_title(page, pk) == "Trip plans"
        assert notices(client.get(f"/c/{pk}/").text) == []  # said once


def test_a_title_with_any_valid_unicode_is_saved(site):
    pk = new_conversation(site, "Trip plans")
    title = "Voyage 🚀 \u00e9t\u00e9 \U0001f600 \u200b \ufeff end"
    with closing(logged_in(site)) as client:
        response = client.post(f"/c/{pk}/rename/", data={"title": title})
        assert response.status_code == 302
        page = client.get(f"/c/{pk}/").text
        assert notices(page) == []
        assert sidebar_title(page, pk) == title


@pytest.mark.parametrize("field", ["username", "password"])
@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_login_with_unsavable_text_is_refused_in_words(site, case, field):
    other = {"username": "alice", "password": "alice-password-1"}
    del other[field]
    with closing(visitor(site)) as client:
        response = post(client, "/accounts/login/", case, bad=field, **other)
        assert response.status_code == 200
        _, problem = BAD_VALUES[case]
        assert f"This contains {problem}, which cannot be saved." in response.text
        assert "sessionid" not in client.cookies
        # What was typed comes back with the character shown as U+FFFD.
        if field == "username":
            assert 'value="a\ufffdb"' in response.text
    logged_in(site).close()  # and the account still logs in


@pytest.mark.parametrize("case", BAD_VALUES)
def test_the_admin_login_refuses_unsavable_text_in_words(site, case):
    with closing(visitor(site)) as client:
        client.get("/admin/login/")
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        response = post(client, "/admin/login/", case, bad="username", password="x")
        assert response.status_code == 200
        _, problem = BAD_VALUES[case]
        assert f"This contains {problem}, which cannot be saved." in response.text


@pytest.mark.parametrize("field", ["username", "password1"])
@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_sign_up_with_unsavable_text_is_refused_in_words(site, case, field):
    fields = {"username": "carol", "password1": "a-long-passphrase-42"}
    fields["password2"] = fields["password1"]
    del fields[field]
    if field == "password1":
        fields["password2"] = "a-long-passphrase-42"
    with closing(visitor(site)) as client:
        response = post(client, "/accounts/signup/", case, bad=field, **fields)
        assert response.status_code == 200
        _, problem = BAD_VALUES[case]
        assert f"This contains {problem}, which cannot be saved." in response.text
        assert "sessionid" not in client.cookies
    count = site.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "print(get_user_model().objects.exclude(username='alice').count())",
    )
    assert count.split()[-1] == "0"
