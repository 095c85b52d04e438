"""Append-only captions over the native protocol: each word is written once, as soon as the server says it
is settled, and never taken back. A partial's first ``stable_words`` words are its segment's final's
whatever audio comes, so they can go where text cannot be erased (a roll-up caption encoder, a chat
message that may only grow, a log); the rest of each segment is written at its final. Each line says how
much audio the server had heard when it sent the words. The server's warnings about the input (only
silence, too quiet, clipped) go to stderr.

    python clients/settled_captions.py speech.wav ws://127.0.0.1:2700
"""

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect

from streamasr.audio import load_audio
from streamasr.protocol import encode_audio, to_text

RATE, FRAME = 16000, 1600  # 100 ms frames


async def main(path: str, url: str) -> None:
    samples = load_audio(path, RATE)
    async with connect(url) as ws:
        await ws.send(to_text({"type": "start", "sample_rate": RATE, "encoding": "pcm_s16le"}))

        async def reader():
            written = 0  # words of the open segment written so far
            async for msg in ws:
                event = json.loads(msg)
                if event["type"] == "partial" and event["stable_words"] > written:
                    words = event["text"].split()[written : event["stable_words"]]
                    print(f"{event['audio_ms']:6d} ms  settled: {' '.join(words)}", flush=True)
                    written = event["stable_words"]
                elif event["type"] == "final":
                    if rest := event["text"].split()[written:]:
                        print(f"{event['end_ms']:6d} ms  final:   {' '.join(rest)}", flush=True)
                    written = 0
                elif event["type"] == "warning":  # the input check's: silence, audio too quiet, clipping
                    print(f"warning: {event['message']}", file=sys.stderr, flush=True)
                elif event["type"] == "error":
                    sys.exit(f"server error {event['code']}: {event['message']}")

        task = asyncio.create_task(reader())
        t0 = time.monotonic()
        for pos in range(0, len(samples), FRAME):  # at real time, as a live source would send it
            await asyncio.sleep(max(0.0, t0 + pos / RATE - time.monotonic()))
            await ws.send(encode_audio(samples[pos : pos + FRAME], "pcm_s16le"))
        await ws.send(to_text({"type": "end"}))
        await task


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: python {sys.argv[0]} FILE ws://HOST:PORT")
    asyncio.run(main(sys.argv[1], sys.argv[2]))
