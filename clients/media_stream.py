"""Replay a file as a telephony media stream: connected/start/media/stop JSON events carrying
base64 8 kHz mu-law in 20 ms frames, at real time, as Twilio Media Streams sends them.

    python clients/media_stream.py speech.wav ws://127.0.0.1:2700
"""

import asyncio
import base64
import json
import sys
import time

from websockets.asyncio.client import connect

from streamasr.audio import load_audio
from streamasr.protocol import encode_audio


async def main(path: str, url: str) -> None:
    payload = encode_audio(load_audio(path, 8000), "mulaw")
    async with connect(url.rstrip("/") + "/media") as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({"event": "start", "streamSid": "MZ0", "start": {
            "streamSid": "MZ0", "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))

        async def reader():
            async for msg in ws:
                event = json.loads(msg)
                if event["type"] in ("final", "error"):
                    print(json.dumps(event))

        task = asyncio.create_task(reader())
        t0 = time.monotonic()
        for i, pos in enumerate(range(0, len(payload), 160)):
            await asyncio.sleep(max(0.0, t0 + i * 0.02 - time.monotonic()))
            await ws.send(json.dumps({"event": "media", "streamSid": "MZ0", "media": {
                "payload": base64.b64encode(payload[pos : pos + 160]).decode()}}))
        await ws.send(json.dumps({"event": "stop", "streamSid": "MZ0"}))
        await task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
