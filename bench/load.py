"""Many replies streaming at once: the latency the site adds to every token, its failures,
its bytes on the wire and its CPU, beside a minimal relay measured the same way in the
same run. See "Load: many streams in one process" in docs/benchmarks.md.

    .venv/bin/python bench/load.py                         # 200 streams, 30 tokens/s, both
    .venv/bin/python bench/load.py --streams 500 --target site
    .venv/bin/python bench/load.py --database postgres --redis --processes 2

What runs, all on this machine:

- the fake provider (bench/fake_provider.py), its own process: each request streams
  `--tokens` tokens at `--rate` tokens/s, one SSE chunk per token, and notes when it wrote
  each one (time.monotonic(): CLOCK_MONOTONIC, the same clock in every process on Linux);
- the target: the site (`--processes` daphne processes, DEBUG off, a fresh database, no
  tools, no model titles) or bench/minimal_relay.py under as many daphne processes;
- the clients: `--clients` processes with `websockets`, the streams spread over them and
  over the daphne processes (socket i goes to process i mod P), each socket opened and
  its message sent at its turn in a ramp of `--ramp` seconds, then read to its last frame.

What it measures, over every token of every stream (docs/benchmarks.md says more):

- added latency: when the client got the frame that completed the token minus when the
  provider wrote it; TTFT added is that for each stream's first token;
- failures: handshakes refused or timed out, `error` frames, replies that did not end
  `complete`, frames out of order, text with a gap or not the provider's, a wrong length;
- bytes on the wire: the websocket payloads of the reply's frames plus their server frame
  headers (2 bytes up to 125 bytes of payload, 4 up to 64 KiB), over the UTF-8 bytes of its
  text; TCP and IP headers are not counted;
- CPU: user + system seconds of each process (/proc/PID/stat, all its threads) per second
  of the run, from the first socket opened to the last reply ended.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fake_provider import prompt_for, tokens_for  # noqa: E402
from tests.live import manage  # noqa: E402

POSTGRES = "postgres://postgres@127.0.0.1:5432/"
REDIS = "redis://127.0.0.1:6379/8"  # the tests use /7
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}:\n{log.read_text()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its threads so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, softirq) CPU seconds of the whole machine so far, all cores; softirq is the
    kernel's packet work, loopback traffic included, which no process is charged for."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, values[6] / CLOCK_TICKS


def wait_for_quiet(limit: float, cores: float = 0.2, spell: float = 3.0) -> float:
    """Wait (at most `limit` seconds) until the machine has used under `cores` CPU for a
    whole `spell`: other work would be measured too. Returns the seconds waited."""
    started = time.monotonic()
    busy, at = machine_busy()[0], started
    while time.monotonic() - started < limit:
        time.sleep(spell)
        now_busy, now = machine_busy()[0], time.monotonic()
        if (now_busy - busy) / (now - at) < cores:
            break
        busy, at = now_busy, now
    return time.monotonic() - started


def start_provider(workdir: Path) -> tuple[subprocess.Popen, int]:
    log = workdir / "provider.log"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fake_provider.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        raise RuntimeError(f"the fake provider did not start:\n{log.read_text()}")
    return process, int(line.split()[1])


def provider_times(port: int) -> dict[str, list[float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/times", timeout=60) as answer:
        return json.load(answer)


@dataclass
class Target:
    name: str  # "site" or "relay"
    ports: list[int]
    processes: list[subprocess.Popen]
    cookie: str = ""
    conversations: list[int] = field(default_factory=list)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def daphne(app: str, port: int, env: dict[str, str], log: Path, deflate: bool) -> subprocess.Popen:
    server = [str(ROOT / "bench" / "deflate_daphne.py")] if deflate else ["-m", "daphne"]
    return subprocess.Popen(
        [sys.executable, *server, "-b", "127.0.0.1", "-p", str(port), app],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def clean_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "CHAT_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }


# Run by `manage.py shell`: one user, N conversations, a logged-in session.
SETUP = """
import json
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from chat.models import Conversation
user = get_user_model().objects.create_user("bench", password="bench-password-1")
Conversation.objects.bulk_create(
    Conversation(user=user, title=f"Bench {i}", model=settings.CHAT_MODEL)
    for i in range(COUNT)
)
ids = list(Conversation.objects.filter(user=user).order_by("id").values_list("id", flat=True))
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print("BENCH", json.dumps({"cookie": session.session_key, "conversations": ids}))
"""


class Site:
    """The site's database and settings, made once per run and used by its daphne processes."""

    def __init__(self, args, workdir: Path, provider_port: int) -> None:
        self.args, self.workdir = args, workdir
        self.admin = None
        self.database = ""
        env = clean_env() | {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "bench-secret-key-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "STATIC_ROOT": str(workdir / "static"),
            "OPENAI_BASE_URL": f"http://127.0.0.1:{provider_port}/v1",
            "OPENAI_API_KEY": "sk-bench",
            "CHAT_MODEL": "bench-model",
            "CHAT_TOOLS": "none",
            "CHAT_MODEL_TITLES": "false",
            "CHAT_FRAME_INTERVAL": str(args.frame_interval),
            "CHAT_LOG_LEVEL": "WARNING",
            # One user writes every reply here: the per-user limits would refuse most.
            "CHAT_USER_MAX_REPLIES": "100000",
            "CHAT_USER_MESSAGES_PER_MINUTE": "100000",
            "CHAT_USER_MAX_SOCKETS": "100000",
            # Plain http on 127.0.0.1, as tests/live.py runs it.
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_COOKIES": "false",
            "DJANGO_SECURE_HSTS_SECONDS": "0",
        }
        if args.database == "postgres":
            import psycopg

            self.admin = psycopg.connect(POSTGRES + "postgres", autocommit=True)
            self.database = f"chat_bench_{uuid.uuid4().hex[:8]}"
            self.admin.execute(f'CREATE DATABASE "{self.database}"')
            env["DATABASE_URL"] = POSTGRES + self.database
        else:
            env["DATABASE_URL"] = f"sqlite:///{workdir / 'db.sqlite3'}"
        if args.redis:
            env["REDIS_URL"] = args.redis_url
        env |= dict(setting.split("=", 1) for setting in args.env)
        self.env = env

    def prepare(self) -> Target:
        manage(self.env, "migrate", "--noinput")
        manage(self.env, "collectstatic", "--noinput")
        out = manage(self.env, "shell", "-c", SETUP.replace("COUNT", str(self.args.streams)))
        made = json.loads(out.split("BENCH ", 1)[1])
        ports = [free_port() for _ in range(self.args.processes)]
        processes = [
            daphne(
                "chatsite.asgi:application",
                port,
                self.env,
                self.workdir / f"site-{i}.log",
                self.args.deflate,
            )
            for i, port in enumerate(ports)
        ]
        for i, (port, process) in enumerate(zip(ports, processes, strict=True)):
            wait_for_port(port, process, self.workdir / f"site-{i}.log")
        return Target("site", ports, processes, made["cookie"], made["conversations"])

    def drop(self) -> None:
        if self.admin is not None:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self.admin.close()


def start_relay(args, workdir: Path, provider_port: int) -> Target:
    env = clean_env() | {
        "RELAY_PROVIDER_URL": f"http://127.0.0.1:{provider_port}/v1",
        "RELAY_MAX_CONNECTIONS": str(args.streams + 10),
    }
    ports = [free_port() for _ in range(args.processes)]
    processes = [
        daphne(
            "bench.minimal_relay:application",
            port,
            env,
            workdir / f"relay-{i}.log",
            args.deflate,
        )
        for i, port in enumerate(ports)
    ]
    for i, (port, process) in enumerate(zip(ports, processes, strict=True)):
        wait_for_port(port, process, workdir / f"relay-{i}.log")
    return Target("relay", ports, processes, conversations=[0] * args.streams)


# --- the clients --------------------------------------------------------------------------


@dataclass
class StreamSpec:
    index: int  # also the provider's seed for this stream
    key: str
    port: int
    conversation: int
    start_at: float  # monotonic time to open the socket


def client_process(specs, cookie, rate, tokens, limit, deflate, results) -> None:
    """One client process: run its streams and hand back what every socket received."""
    try:
        results.put(asyncio.run(run_streams(specs, cookie, rate, tokens, limit, deflate)))
    except BaseException as exc:  # the parent must hear of it, not wait forever
        results.put(exc)
        raise


async def run_streams(specs, cookie, rate, tokens, limit, deflate) -> dict:
    cpu_start = time.process_time()
    records = await asyncio.gather(
        *(one_stream(s, cookie, rate, tokens, limit, deflate) for s in specs)
    )
    return {"records": records, "cpu": time.process_time() - cpu_start}


async def one_stream(spec: StreamSpec, cookie, rate, tokens, limit, deflate) -> dict:
    """Open the socket at its turn, send the message, read up to the reply's last frame.

    Returns what arrived as (monotonic time, raw text) pairs: the work of reading them is
    done after the run, not while other sockets wait.
    """
    from websockets.asyncio.client import connect

    record = {"index": spec.index, "key": spec.key, "error": "", "messages": []}
    await asyncio.sleep(max(0.0, spec.start_at - time.monotonic()))
    record["opened_at"] = time.monotonic()
    # As the browser asks: a text-only frame may come as its text alone (docs/protocol.md).
    url = f"ws://127.0.0.1:{spec.port}/ws/chat/?frames=compact"
    try:
        socket = await connect(
            url,
            origin=f"http://127.0.0.1:{spec.port}",
            additional_headers={"Cookie": f"sessionid={cookie}"},
            compression="deflate" if deflate else None,
            open_timeout=30,
            ping_interval=None,
            max_size=None,
            user_agent_header=None,
        )
    except Exception as exc:
        record["error"] = f"handshake: {type(exc).__name__}: {exc}"[:300]
        record["handshake_failed"] = True
        return record
    record["connected_at"] = time.monotonic()
    messages = record["messages"]
    record["deflate"] = any("deflate" in e.name for e in socket.protocol.extensions)
    wire = [0]  # bytes read from the TCP socket: what really crossed the wire
    received = socket.data_received

    def count(data: bytes) -> None:
        wire[0] += len(data)
        received(data)

    socket.data_received = count
    try:
        async with asyncio.timeout(limit):
            await socket.send(
                json.dumps(
                    {
                        "type": "send",
                        "conversation": spec.conversation,
                        "content": prompt_for(spec.key, spec.index, tokens, rate),
                    }
                )
            )
            record["sent_at"] = time.monotonic()
            while True:
                raw = await socket.recv()
                messages.append((time.monotonic(), raw))
                if isinstance(raw, bytes):
                    continue
                if raw.startswith('{"type":"error"'):
                    break
                if raw.startswith('{"type":"frame"') and '"status":' in raw:
                    break
        record["wire_bytes"] = wire[0]
    except TimeoutError:
        record["error"] = f"timeout: no last frame after {limit:g} s"
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        await socket.close()
    return record


def run_clients(args, target: Target, run_key: str) -> tuple[list[dict], dict]:
    """Every stream against `target`; the records, and the CPU each process used."""
    count = args.streams
    start = time.monotonic() + 2.0  # time for the client processes to start
    specs = [
        StreamSpec(
            index=i,
            key=f"{run_key}-{target.name}-{i}",
            port=target.ports[i % len(target.ports)],
            conversation=target.conversations[i],
            start_at=start + args.ramp * i / count,
        )
        for i in range(count)
    ]
    limit = args.ramp + args.tokens / args.rate + args.slack
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    clients = [
        context.Process(
            target=client_process,
            args=(
                specs[k :: args.clients],
                target.cookie,
                args.rate,
                args.tokens,
                limit,
                args.deflate,
                results,
            ),
        )
        for k in range(args.clients)
    ]
    for client in clients:
        client.start()
    watched = {f"{target.name}-{i}": p.pid for i, p in enumerate(target.processes)}
    watched |= {"provider": args.provider_pid}
    watched |= {f"client-{k}": c.pid for k, c in enumerate(clients)}
    # Until the first socket opens, the machine's CPU less ours: others' work shows here.
    idle_ours = sum(cpu_seconds(pid) for pid in watched.values())
    idle_busy, idle_wall = machine_busy()[0], time.monotonic()
    time.sleep(max(0.0, start - time.monotonic()))
    ours = sum(cpu_seconds(pid) for pid in watched.values()) - idle_ours
    background = (machine_busy()[0] - idle_busy - ours) / (time.monotonic() - idle_wall)
    profilers = [
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                *("record", "--threads", "--rate", "100", "--format", "raw"),
                *("--pid", str(process.pid), "--output", f"{args.profile}.{target.name}-{i}"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, process in enumerate(target.processes if args.profile else [])
    ]
    before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    machine_before, wall_before = machine_busy(), time.monotonic()
    outcomes = [results.get() for _ in clients]
    wall = time.monotonic() - wall_before
    machine_after = machine_busy()
    after = {name: cpu_seconds(pid) for name, pid in watched.items()}
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its file and exits
        profiler.wait(timeout=30)
    for client in clients:
        client.join()
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise RuntimeError("a client process failed") from outcome
    cpu = {name: (after[name] - before[name]) / wall for name in watched}
    cpu["machine"] = (machine_after[0] - machine_before[0]) / wall
    cpu["softirq"] = (machine_after[1] - machine_before[1]) / wall
    cpu["before"] = background
    cpu["wall"] = wall
    cpu["client-self"] = sum(o["cpu"] for o in outcomes) / wall
    records = sorted((r for o in outcomes for r in o["records"]), key=lambda r: r["index"])
    return records, cpu


# --- what the records say ------------------------------------------------------------------


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def frame_header(payload: int) -> int:
    """Bytes of a server websocket frame's header (unmasked) for a payload of this size."""
    return 2 if payload <= 125 else 4 if payload <= 65535 else 10


DEFLATE_WAYS = {
    # permessage-deflate, what each would put on the wire: the server keeps its compression
    # context between messages (the default), with a 32 KiB or a 1 KiB window, or not.
    "deflate": (15, True),
    "deflate-w10": (10, True),
    "deflate-nt": (15, False),
}


def deflated_sizes(payloads: list[bytes]) -> dict[str, int]:
    sizes = {}
    for name, (bits, takeover) in DEFLATE_WAYS.items():
        total = 0
        compressor = zlib.compressobj(6, zlib.DEFLATED, -bits)
        for payload in payloads:
            if not takeover:
                compressor = zlib.compressobj(6, zlib.DEFLATED, -bits)
            data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
            size = len(data) - 4  # RFC 7692: the final 00 00 ff ff is not sent
            total += size + frame_header(size)
        sizes[name] = total
    return sizes


@dataclass
class StreamResult:
    failure: str = ""
    latencies: list[float] = field(default_factory=list)
    written: list[float] = field(default_factory=list)  # when the provider wrote each token
    ttft: float | None = None  # first token: client got it - provider sent it
    send_to_first: float | None = None  # first token: client got it - client sent message
    frame_bytes: int = 0  # the reply's frames on the wire
    all_bytes: int = 0  # everything the server sent after the message, on the wire
    wire_bytes: int = 0  # what the client's TCP socket read in that time (compressed or not)
    deflate: bool = False  # permessage-deflate was negotiated
    text_bytes: int = 0
    frames: int = 0
    deflated: dict[str, int] = field(default_factory=dict)


def examine(record: dict, times: list[float] | None, tokens: int, target: str) -> StreamResult:
    """Check one stream's frames against the provider's tokens; its latencies and bytes."""
    result = StreamResult()
    expected = tokens_for(record["index"], tokens)
    text = "".join(expected)
    ends = []  # the UTF-16 offset where each token ends
    position = 0
    for token in expected:
        position += utf16_length(token)
        ends.append(position)
    encoded = text.encode("utf-16-le")
    result.text_bytes = len(text.encode())
    if record.get("handshake_failed"):
        result.failure = record["error"][:80]  # "handshake: " and why
        return result
    reply = 0 if target == "relay" else None
    held, last_seq, received = 0, 0, []  # (time, held after the frame)
    payloads = []
    status = None
    continues = None  # the text-only frame a binary message goes on from, as the page keeps it
    for at, raw in record["messages"]:
        if isinstance(raw, bytes):  # a text-only frame sent as its text
            if continues is None:
                result.failure = "text alone with no frame before it"
                return result
            payload = raw
            message = {
                "type": "frame",
                "message": continues[0],
                "offset": continues[2],
                "text": raw.decode(),
                "seq": continues[1] + 1,
            }
        else:
            payload = raw.encode()
            message = json.loads(raw)
        result.all_bytes += len(payload) + frame_header(len(payload))
        if message.get("type") == "frame":
            text_only = message.keys() == {"type", "message", "offset", "text", "seq"}
            end = message["offset"] + utf16_length(message["text"]) if text_only else 0
            continues = (message["message"], message["seq"], end) if text_only else None
        kind = message.get("type")
        if kind == "error":
            result.failure = f"error frame: {message.get('code')}"
            return result
        if kind == "message" and message["message"]["role"] == "assistant":
            reply = message["message"]["id"]
        if kind != "frame" or message.get("message") != reply:
            continue
        result.frame_bytes += len(payload) + frame_header(len(payload))
        result.frames += 1
        payloads.append(payload)
        if message["seq"] != last_seq + 1:
            result.failure = f"seq {message['seq']} after {last_seq}"
            return result
        last_seq = message["seq"]
        if "text" in message:
            piece, offset = message["text"], message["offset"]
            if offset != held:
                result.failure = f"text at {offset} with {held} held"
                return result
            units = piece.encode("utf-16-le")
            if units != encoded[2 * offset : 2 * offset + len(units)]:
                result.failure = f"text at {offset} is not the provider's"
                return result
            held += utf16_length(piece)
            received.append((at, held))
        if "status" in message:
            status = message
    result.wire_bytes = record.get("wire_bytes", 0)
    result.deflate = record.get("deflate", False)
    if record["error"]:
        result.failure = record["error"].split(":")[0]
        return result
    if status is None:
        result.failure = "no last frame"
        return result
    if status["status"] != "complete":
        result.failure = f"{status['status']}: {status.get('error', '')}"[:120]
        return result
    if status["length"] != ends[-1] or held != ends[-1]:
        result.failure = f"length {status['length']}, {held} held, {ends[-1]} sent"
        return result
    if times is None or len(times) != tokens:
        result.failure = "provider times missing"
        return result
    frame = 0
    for k, end in enumerate(ends):
        while received[frame][1] < end:
            frame += 1
        result.latencies.append(received[frame][0] - times[k])
    result.written = times
    result.ttft = result.latencies[0]
    result.send_to_first = received[0][0] - record["sent_at"]
    result.deflated = deflated_sizes(payloads)
    return result


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of all values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarise(args, target: str, records: list[dict], times: dict, cpu: dict) -> dict:
    results = [examine(r, times.get(r["key"]), args.tokens, target) for r in records]
    ok = [r for r in results if not r.failure]
    failures: dict[str, int] = {}
    for r in results:
        if r.failure:
            kind = r.failure if len(r.failure) < 60 else r.failure[:57] + "..."
            failures[kind] = failures.get(kind, 0) + 1
    latencies = [x for r in ok for x in r.latencies]
    text_bytes = sum(r.text_bytes for r in ok) or 1
    return {
        "target": target,
        "streams": args.streams,
        "rate": args.rate,
        "tokens": args.tokens,
        "processes": args.processes,
        "database": args.database + ("+redis" if args.redis else "")
        if target == "site"
        else "none",
        "frame_interval": args.frame_interval if target == "site" else 0,
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "max": max(latencies, default=math.nan) * 1000,
        "ttft_p50": percentile([r.ttft for r in ok], 0.50) * 1000,
        "ttft_p99": percentile([r.ttft for r in ok], 0.99) * 1000,
        "send_p50": percentile([r.send_to_first for r in ok], 0.50) * 1000,
        "send_p99": percentile([r.send_to_first for r in ok], 0.99) * 1000,
        "failed": len(results) - len(ok),
        "failures": failures,
        "bytes_ratio": sum(r.frame_bytes for r in ok) / text_bytes,
        "all_bytes_ratio": sum(r.all_bytes for r in ok) / text_bytes,
        "wire_ratio": sum(r.wire_bytes for r in ok) / text_bytes,
        "deflated_sockets": sum(r.deflate for r in ok),
        "deflate_ratio": {
            name: sum(r.deflated[name] for r in ok) / text_bytes for name in DEFLATE_WAYS
        }
        if ok
        else {},
        "timeline": timeline(ok, args.timeline) if args.timeline else [],
        "frames_per_reply": sum(r.frames for r in ok) / max(1, len(ok)),
        "text_bytes_per_reply": text_bytes / max(1, len(ok)),
        "cpu": cpu,
    }


def timeline(results: list[StreamResult], window: float) -> list[dict]:
    """Added latency window by window of when the provider wrote each token: where in a
    run (the starts, all streaming, the ends) the latency comes from."""
    written = [
        (at, latency)
        for r in results
        for at, latency in zip(r.written, r.latencies, strict=True)  # one per token
    ]
    if not written:
        return []
    first = min(at for at, _ in written)
    windows: dict[int, list[float]] = {}
    for at, latency in written:
        windows.setdefault(int((at - first) // window), []).append(latency)
    return [
        {
            "from": index * window,
            "tokens": len(values),
            "p50": percentile(values, 0.50) * 1000,
            "p99": percentile(values, 0.99) * 1000,
            "max": max(values) * 1000,
        }
        for index, values in sorted(windows.items())
    ]


# --- the report ---------------------------------------------------------------------------

COLUMNS = (
    "| target | N | R | P | database | p50 ms | p99 ms | max ms | TTFT+ p50/p99 ms "
    "| send→1st p50/p99 ms | failed | bytes/text | server CPU | provider CPU | clients CPU "
    "| machine CPU | other CPU | before | run s |"
)


def row(s: dict) -> str:
    cpu = s["cpu"]
    server = sum(v for k, v in cpu.items() if k.startswith(s["target"] + "-"))
    clients = sum(v for k, v in cpu.items() if k.startswith("client-") and k != "client-self")
    return (
        f"| {s['target']} | {s['streams']} | {s['rate']:g} | {s['processes']} "
        f"| {s['database']} | {s['p50']:.1f} | {s['p99']:.1f} | {s['max']:.0f} "
        f"| {s['ttft_p50']:.1f} / {s['ttft_p99']:.1f} | {s['send_p50']:.0f} / {s['send_p99']:.0f} "
        f"| {s['failed']} | {s['bytes_ratio']:.2f} | {server:.2f} | {cpu['provider']:.2f} "
        f"| {clients:.2f} | {cpu['machine']:.2f} "
        f"| {cpu['machine'] - server - cpu['provider'] - clients:.2f} | {cpu['before']:.2f} "
        f"| {cpu['wall']:.1f} |"
    )


def report(args, summaries: list[dict]) -> str:
    lines = [
        f"{args.streams} streams x {args.tokens} tokens at {args.rate:g} tokens/s "
        f"(a reply ≈ {summaries[0]['text_bytes_per_reply']:.0f} bytes of text, "
        f"{args.tokens / args.rate:g} s), ramp {args.ramp:g} s, {args.clients} client processes, "
        f"CHAT_FRAME_INTERVAL {args.frame_interval:g} s",
        "",
        COLUMNS,
        "|" + "---|" * (COLUMNS.count("|") - 1),
        *(row(s) for s in summaries),
        "",
    ]
    for s in summaries:
        if s["failures"]:
            lines.append(f"{s['target']} failures: " + "; ".join(
                f"{count} x {kind}" for kind, count in sorted(s["failures"].items())
            ))  # fmt: skip
        deflate = ", ".join(f"{k} {v:.2f}" for k, v in s["deflate_ratio"].items())
        lines.append(
            f"{s['target']}: {s['frames_per_reply']:.0f} frames per reply; "
            f"kernel softirq {s['cpu']['softirq']:.2f} CPU (in other CPU); "
            f"bytes/text with the reply's other messages {s['all_bytes_ratio']:.2f}, "
            f"read from TCP {s['wire_ratio']:.2f} ({s['deflated_sockets']} sockets deflated); "
            f"with permessage-deflate (computed): {deflate}"
        )
    for s in summaries:
        for w in s["timeline"]:
            lines.append(
                f"{s['target']} {w['from']:5.1f} s: {w['tokens']:6d} tokens, p50 {w['p50']:6.1f}"
                f" ms, p99 {w['p99']:6.1f} ms, max {w['max']:6.0f} ms"
            )
    by_target = {s["target"]: s for s in summaries}
    if {"site", "relay"} <= by_target.keys():
        site, relay = by_target["site"], by_target["relay"]
        lines.append(
            f"site ÷ relay: p50 {site['p50'] / relay['p50']:.2f}x, "
            f"p99 {site['p99'] / relay['p99']:.2f}x, max {site['max'] / relay['max']:.2f}x"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200, help="N concurrent replies")
    parser.add_argument("--rate", type=float, default=30.0, help="R tokens/s per stream")
    parser.add_argument("--tokens", type=int, default=300, help="tokens per reply")
    parser.add_argument("--target", choices=["site", "relay", "both"], default="both")
    parser.add_argument("--processes", type=int, default=1, help="daphne processes")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--redis", action="store_true", help="the Redis channel layer")
    parser.add_argument("--redis-url", default=REDIS)
    parser.add_argument("--clients", type=int, default=0, help="client processes (0: auto)")
    parser.add_argument("--ramp", type=float, default=0.0, help="seconds (0: N/100, ≥ 1)")
    parser.add_argument("--slack", type=float, default=60.0, help="timeout past the reply")
    parser.add_argument("--frame-interval", type=float, default=0.05, help="the site's")
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the site (repeatable)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="wait up to this many seconds for the machine to be idle before each target",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run everything at this niceness (e.g. -10, as root) on a machine shared with others",
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="clients offer permessage-deflate, daphne accepts it (bench/deflate_daphne.py)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    parser.add_argument("--dump", type=Path, help="pickle the raw records and times here")
    parser.add_argument(
        "--timeline",
        type=float,
        default=0.0,
        help="also print the latency in windows of this many seconds of the run",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy every server process during the run (collapsed stacks: PROFILE.site-0 …)",
    )
    args = parser.parse_args()
    args.clients = args.clients or (1 if args.streams <= 100 else 2)
    args.ramp = args.ramp or max(1.0, args.streams / 100)

    if args.nice:
        os.nice(args.nice)  # every process started from here on inherits it
    workdir = Path(tempfile.mkdtemp(prefix="chat-load-"))
    provider, provider_port = start_provider(workdir)
    args.provider_pid = provider.pid
    run_key = uuid.uuid4().hex[:6]
    summaries = []
    site = None
    try:
        for name in ["site", "relay"] if args.target == "both" else [args.target]:
            if name == "site":
                site = Site(args, workdir, provider_port)
                target = site.prepare()
            else:
                target = start_relay(args, workdir, provider_port)
            if args.wait_quiet:
                waited = wait_for_quiet(args.wait_quiet)
                print(f"[waited {waited:.0f} s for a quiet machine]", file=sys.stderr)
            try:
                records, cpu = run_clients(args, target, run_key)
            finally:
                target.stop()
            times = provider_times(provider_port)
            summaries.append(summarise(args, name, records, times, cpu))
            if args.dump:
                with open(f"{args.dump}.{name}", "wb") as dump:
                    pickle.dump({"records": records, "times": times, "args": vars(args)}, dump)
            print(f"[{name} done]", file=sys.stderr, flush=True)
    finally:
        provider.terminate()
        provider.wait()
        if site is not None:
            site.drop()
        if args.keep:
            print(f"logs in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report(args, summaries))
    if args.json:
        args.json.write_text(json.dumps(summaries, indent=2))


if __name__ == "__main__":
    main()
