"""Stop ends a reply and keeps it; every way the upstream can fail says so in plain words."""

import socket as stdlib_socket

import pytest

from chat.models import Message
from tests.upstream_server import Reply, chunk, error_reply, text_reply
from tests.ws import ReplyView, Socket

pytestmark = pytest.mark.django_db(transaction=True)


async def ask(alice, content: str = "hello") -> tuple[Socket, int]:
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": content})
    return socket, (await socket.recv())["conversation"]["id"]


async def finished_reply(socket: Socket, seen: list[dict] = ()) -> tuple[ReplyView, Message]:
    """The reply as the page shows it at its end (`seen`: the frames already received)."""
    view = ReplyView.of([*seen, *await socket.recv_reply_end()])
    reply = await Message.objects.aget(role="assistant")
    await socket.close()
    return view, reply


async def test_stop_keeps_what_arrived_and_closes_the_upstream_request(alice, upstream):
    upstream.queue(text_reply([f"part{i} " for i in range(200)], pause=0.05))
    socket, conversation_id = await ask(alice)
    seen = await socket.recv_until(lambda f: f["type"] == "frame" and "part2" in f.get("text", ""))
    await socket.send({"type": "stop", "conversation": conversation_id})
    view, reply = await finished_reply(socket, seen)

    assert view.status == reply.status == "stopped"
    assert reply.content.startswith("part0 part1 part2")
    assert "part199" not in reply.content
    assert view.text == reply.content
    assert upstream.client_gone.wait(timeout=3), "the upstream request was not closed"


async def test_a_stopped_reply_stays_in_the_history(alice, upstream):
    upstream.queue(text_reply([f"w{i} " for i in range(100)], pause=0.05))
    socket, conversation_id = await ask(alice)
    await socket.recv_until(lambda f: f["type"] == "frame" and "w1" in f.get("text", ""))
    await socket.send({"type": "stop", "conversation": conversation_id})
    await socket.recv_reply_end()
    await socket.send({"type": "send", "conversation": conversation_id, "content": "more"})
    await socket.recv_reply_end()
    history = upstream.wait_for_requests(2)[1]["body"]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    assert history[1]["content"].startswith("w0 w1")
    await socket.close()


FAILURES = {
    "bad key": (error_reply(401, "Incorrect API key provided"), "rejected the API key"),
    "rate limit": (error_reply(429, "Slow down"), "rate-limiting"),
    "server error": (error_reply(500, "boom"), "server error (500)"),
    "bad gateway without json": (
        Reply(status=502, content_type="text/html", body=[b"<html>bad gateway</html>"]),
        "server error (502)",
    ),
    "error object in the stream": (
        Reply(
            body=[
                chunk({"role": "assistant", "content": "Partial "}),
                b'data: {"error": {"message": "The server overloaded", "type": "x"}}\n\n',
            ]
        ),
        "The server overloaded",
    ),
    "cut off without [DONE]": (
        Reply(body=[chunk({"role": "assistant", "content": "Partial "})]),
        "closed the connection before the reply finished",
    ),
    "stall with keep-alives": (
        Reply(
            body=[chunk({"role": "assistant", "content": "Partial "})]
            + [b": keep-alive\n\n", 0.2] * 20
        ),
        "stopped sending",
    ),
    "length limit": (text_reply(["Partial ", "answer"], finish_reason="length"), "maximum length"),
    "bad json in the stream": (
        Reply(body=[chunk({"role": "assistant", "content": "Partial "}), b"data: {nope\n\n"]),
        "not valid JSON",
    ),
}


@pytest.mark.parametrize("failure", FAILURES, ids=list(FAILURES))
async def test_an_upstream_failure_is_explained_and_keeps_the_partial_reply(
    alice, upstream, settings, failure
):
    settings.CHAT_IDLE_TIMEOUT = 1.0
    reply_script, expected = FAILURES[failure]
    upstream.queue(reply_script)
    socket, _ = await ask(alice)
    view, reply = await finished_reply(socket)

    assert view.status == reply.status == "error"
    assert expected.lower() in reply.error.lower()
    assert "Traceback" not in reply.error
    if failure.startswith(("error object", "cut off", "stall", "length", "bad json")):
        assert reply.content.startswith("Partial")
        assert "Partial" in view.text
    assert view.text == reply.content


async def test_a_provider_that_cannot_be_reached_is_explained(alice, upstream, settings):
    with stdlib_socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
    socket, _ = await ask(alice)
    _, reply = await finished_reply(socket)
    assert reply.status == "error"
    assert f"Could not connect to the model provider at 127.0.0.1:{port}" in reply.error


async def test_retry_after_a_failure_writes_a_new_reply(alice, upstream):
    upstream.queue(error_reply(500, "boom"), text_reply(["Fine", " now"]))
    socket, conversation_id = await ask(alice)
    await socket.recv_reply_end()
    await socket.send({"type": "retry", "conversation": conversation_id})
    frames = await socket.recv_reply_end()
    assert frames[-1]["status"] == "complete"
    replies = [m async for m in Message.objects.filter(role="assistant").order_by("id")]
    assert [(m.status, m.content) for m in replies] == [("error", ""), ("complete", "Fine now")]
    # The failed attempt is not sent upstream again.
    assert upstream.wait_for_requests(2)[1]["body"]["messages"] == [
        {"role": "user", "content": "hello"}
    ]
    await socket.close()


async def test_retry_after_a_complete_reply_is_refused(alice, upstream):
    socket, conversation_id = await ask(alice)
    await socket.recv_reply_end()
    await socket.send({"type": "retry", "conversation": conversation_id})
    assert (await socket.recv())["code"] == "nothing_to_retry"
    await socket.close()


async def test_a_reply_left_streaming_by_a_dead_process_is_marked_interrupted(alice, upstream):
    socket, conversation_id = await ask(alice)
    await socket.recv_reply_end()
    await Message.objects.filter(role="assistant").aupdate(status="streaming", content="Half")
    await socket.send({"type": "open", "conversation": conversation_id})
    history = await socket.recv()
    assert history["messages"][1]["status"] == "interrupted"
    assert "stopped while this reply was being written" in history["messages"][1]["error"]
    assert (await Message.objects.aget(role="assistant")).content == "Half"
    await socket.close()
