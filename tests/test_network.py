"""httpx on plain asyncio sockets (chat/providers/network.py) behaves as httpx's own backend does:
streams, TLS, pooling, and the same errors for the same failures."""

import asyncio
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from chat.providers.network import AsyncioTransport


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/then-close":  # kept alive as far as the client knows, then closed
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            self.close_connection = True
            return
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"12345")
            self.wfile.flush()
            threading.Event().wait(2)  # the rest never comes in time
            return
        body = b"".join(f"data: {i}\n\n".encode() for i in range(50))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(0, len(body), 7):  # in small pieces, as a stream arrives
            self.wfile.write(body[i : i + 7])
            self.wfile.flush()


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def tls_server(server, tmp_path):
    """The same server behind TLS, with a certificate made for the test."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd, cert
    httpd.shutdown()
    httpd.server_close()


def url(httpd, scheme: str = "http", host: str = "127.0.0.1") -> str:
    return f"{scheme}://{host}:{httpd.server_address[1]}"


async def read_stream(client: httpx.AsyncClient, address: str) -> bytes:
    async with client.stream("GET", address + "/events") as response:
        return b"".join([piece async for piece in response.aiter_bytes()])


EXPECTED = b"".join(f"data: {i}\n\n".encode() for i in range(50))


async def test_a_stream_arrives_whole_and_the_connection_is_reused(server):
    transport = AsyncioTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        assert await read_stream(client, url(server)) == EXPECTED
        assert await read_stream(client, url(server)) == EXPECTED
        assert len(transport._pool.connections) == 1  # one pooled connection, kept alive


async def test_tls_is_verified_against_the_trusted_certificates(tls_server):
    httpd, cert = tls_server
    trusting = AsyncioTransport(verify=ssl.create_default_context(cafile=str(cert)))
    async with httpx.AsyncClient(transport=trusting) as client:
        assert await read_stream(client, url(httpd, "https", "localhost")) == EXPECTED
    async with httpx.AsyncClient(transport=AsyncioTransport()) as client:
        with pytest.raises(httpx.ConnectError):  # a certificate nobody vouches for
            await read_stream(client, url(httpd, "https", "localhost"))


async def test_a_refused_connection_is_a_connect_error():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with httpx.AsyncClient(transport=AsyncioTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")


async def test_a_read_that_takes_too_long_is_a_read_timeout(server):
    async with httpx.AsyncClient(transport=AsyncioTransport(), timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(url(server) + "/slow")


async def test_a_pooled_connection_the_server_closed_is_not_reused(server):
    transport = AsyncioTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get(url(server) + "/then-close")).text == "ok"
        await asyncio.sleep(0.1)  # the close reaches the client
        assert await read_stream(client, url(server)) == EXPECTED


async def test_cancelling_a_waiting_read_cancels_it_and_is_no_timeout(server):
    async with httpx.AsyncClient(transport=AsyncioTransport(), timeout=5) as client:
        task = asyncio.create_task(client.get(url(server) + "/slow"))
        await asyncio.sleep(0.3)  # waiting for the rest of the body
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
