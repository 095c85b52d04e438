"""Replay a file as a telephony media stream: connected/start/media/stop JSON events carrying
base64 8 kHz mu-law in 20 ms frames, at real time, as Twilio Media Streams sends them. HOTWORDS, if
given (words and phrases separated by commas), go out as the call's custom parameter (TwiML's
<Parameter name="hotwords" value="..."/>).

    python clients/media_stream.py speech.wav ws://127.0.0.1:2700 [HOTWORDS]
"""

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect

from streamasr.audio import load_audio
from streamasr.protocol import media_events, media_open_events, media_stop_event, to_text


async def main(path: str, url: str, hotwords: str = "") -> None:
    samples = load_audio(path, 8000)
    async with connect(url.rstrip("/") + "/media") as ws:
        for event in media_open_events(parameters={"hotwords": hotwords} if hotwords else None):
            await ws.send(to_text(event))

        async def reader():
            async for msg in ws:
                event = json.loads(msg)
                if event["type"] in ("final", "error"):
                    print(to_text(event))

        task = asyncio.create_task(reader())
        t0 = time.monotonic()
        for i, event in enumerate(media_events(samples)):  # 20 ms each, at real time
            await asyncio.sleep(max(0.0, t0 + i * 0.02 - time.monotonic()))
            await ws.send(to_text(event))
        await ws.send(to_text(media_stop_event()))
        await task


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(f"usage: python {sys.argv[0]} FILE ws://HOST:PORT [HOTWORDS]")
    asyncio.run(main(*sys.argv[1:]))
