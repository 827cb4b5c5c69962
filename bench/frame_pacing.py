"""CPU of pacing a reply's text into frames (chat/generation.py: `Generation._note_change`,
`send_due_frame` and `_publish_frames`): N replies in one process, each given a token
every 1/R s, their frames paced as the site paces them and sent to no socket, measured
against the same tokens kept with no pacing at all. The difference is what deciding when
to send costs, apart from reading the provider and writing the sockets. See "Pacing
frames" in docs/benchmarks.md.

    .venv/bin/python bench/frame_pacing.py             # 200 replies x 150 tokens at 30/s, 5 times
    .venv/bin/python bench/frame_pacing.py --repeat 9

This machine's speed wanders by a third within seconds, so runs with and without the
publisher alternate, and the medians are what to quote.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def one_reply(index: int, tokens: int, rate: float, paced: bool) -> int:
    """Feed one reply its tokens at `rate`; the number of frames it made."""
    from chat.generation import Generation, _publish_frames

    generation = Generation(index)
    generation.message_id = index + 1
    publisher = asyncio.create_task(_publish_frames(generation)) if paced else None
    if not paced:  # the text kept, and no timing of frames: add_text's pacing step is off
        generation._note_change = lambda: None
    loop = asyncio.get_running_loop()
    start = loop.time() + (index % 100) / (100 * rate)  # the replies' tokens spread out
    for k in range(tokens):
        await asyncio.sleep(max(0.0, start + k / rate - loop.time()))
        generation.add_text("word ")
        if paced and generation.frame_due:  # as the round's task does (chat/generation.py)
            await generation.send_due_frame()
    generation.finished = True
    if publisher is not None:
        generation.wake()
        await publisher
    return generation.seq


async def run(replies: int, tokens: int, rate: float, paced: bool) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, frames) for `replies` fed at once."""
    cpu, wall = time.process_time(), time.monotonic()
    frames = await asyncio.gather(*(one_reply(i, tokens, rate, paced) for i in range(replies)))
    return time.process_time() - cpu, time.monotonic() - wall, sum(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--rate", type=float, default=30.0, help="tokens a second per reply")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    from django.conf import settings

    print(
        f"{args.replies} replies x {args.tokens} tokens at {args.rate:g}/s, "
        f"CHAT_FRAME_INTERVAL {settings.CHAT_FRAME_INTERVAL} s"
    )
    per_frame, cores = [], []
    for attempt in range(1, args.repeat + 1):
        bare_cpu, bare_wall, _ = asyncio.run(run(args.replies, args.tokens, args.rate, False))
        cpu, wall, frames = asyncio.run(run(args.replies, args.tokens, args.rate, True))
        pacing = cpu - bare_cpu
        per_frame.append(pacing * 1e6 / frames)
        cores.append(pacing / wall)
        print(
            f"run {attempt}: {frames / args.replies:.1f} frames per reply; tokens alone "
            f"{bare_cpu / bare_wall:.3f} of a core, with pacing {cpu / wall:.3f}; pacing "
            f"{per_frame[-1]:.1f} µs of CPU per frame ({cores[-1]:.3f} of a core)"
        )
    print(
        f"median: pacing {statistics.median(per_frame):.1f} µs of CPU per frame, "
        f"{statistics.median(cores):.3f} of a core"
    )


if __name__ == "__main__":
    main()
