"""CPU per event of reading a provider's stream, the site's own way (chat.providers: httpx on
chat/providers/network.py, the SSE decoder, the assembler), with nothing else in the
process: N streams at once from bench/fake_provider.py at R tokens/s, one SSE chunk per
token, as a provider sends them. See "Reading a provider's stream" in docs/benchmarks.md.

    .venv/bin/python bench/read_stream.py                  # 200 streams x 150 tokens at 30/s
    .venv/bin/python bench/read_stream.py --streams 50 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def read_all(streams: int, tokens: int, rate: float) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, events) for `streams` replies read at once."""
    from bench.fake_provider import prompt_for
    from chat import providers
    from chat.providers.assembler import StreamAssembler

    upstream = providers.upstream_for("bench-model")

    async def one(index: int) -> int:
        assembler = StreamAssembler()
        messages = [{"role": "user", "content": prompt_for(f"read-{index}", index, tokens, rate)}]
        events = 0
        async for _ in providers.stream_completion(upstream, messages, "bench-model", assembler):
            events += 1
        return events

    cpu, wall = time.process_time(), time.monotonic()
    counts = await asyncio.gather(*(one(i) for i in range(streams)))
    return time.process_time() - cpu, time.monotonic() - wall, sum(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from bench.load import start_provider

    with tempfile.TemporaryDirectory() as workdir:
        provider, port = start_provider(Path(workdir))
        try:
            os.environ |= {
                "DJANGO_SETTINGS_MODULE": "chatsite.settings",
                "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
                "OPENAI_API_KEY": "sk-bench",
                "CHAT_MODEL": "bench-model",
                "CHAT_MAX_REPLIES": str(args.streams + 10),
                "DATABASE_URL": f"sqlite:///{workdir}/unused.sqlite3",
            }
            import django

            django.setup()
            for run in range(args.repeat):
                cpu, wall, events = asyncio.run(read_all(args.streams, args.tokens, args.rate))
                print(
                    f"run {run + 1}: {args.streams} streams, {events:,} events in {wall:.1f} s: "
                    f"{cpu / events * 1e6:.1f} µs of CPU per event "
                    f"({cpu / wall:.2f} of a core)"
                )
        finally:
            provider.terminate()
            provider.wait(timeout=10)


if __name__ == "__main__":
    main()
