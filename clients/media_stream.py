"""Replay a file as a telephony media stream: connected/start/media/stop JSON events carrying
base64 8 kHz mu-law in 20 ms frames, at real time, as Twilio Media Streams sends them. A stereo file
is a call with both tracks (left: inbound, right: outbound), each recognized on its own; its finals
name their track. HOTWORDS, if given (words and phrases separated by commas), go out as the call's
custom parameter (TwiML's <Parameter name="hotwords" value="..."/>).

    python clients/media_stream.py speech.wav ws://127.0.0.1:2700 [HOTWORDS]
"""

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect

import soundfile as sf

from streamasr.audio import load_audio, resample, to_mono_float
from streamasr.protocol import media_events, media_open_events, media_stop_event, to_text


def tracks(path: str) -> dict[str, list[dict]]:
    """The file's media events by track: a stereo file's channels are a call's inbound and outbound audio."""
    if sf.info(path).channels != 2:
        return {"inbound": media_events(load_audio(path, 8000))}
    data, rate = sf.read(path, dtype="float32", always_2d=True)  # (S, 2)
    return {name: media_events(resample(to_mono_float(data[:, c]), rate, 8000), track=name)
            for c, name in enumerate(("inbound", "outbound"))}


async def main(path: str, url: str, hotwords: str = "") -> None:
    media = tracks(path)
    async with connect(url.rstrip("/") + "/media") as ws:
        for event in media_open_events(parameters={"hotwords": hotwords} if hotwords else None,
                                       tracks=list(media) if len(media) > 1 else None):
            await ws.send(to_text(event))

        async def reader():
            async for msg in ws:
                event = json.loads(msg)
                if event["type"] in ("final", "error"):
                    print(to_text(event))

        task = asyncio.create_task(reader())
        t0 = time.monotonic()
        for i in range(max(map(len, media.values()))):  # 20 ms each, at real time, the tracks side by side
            await asyncio.sleep(max(0.0, t0 + i * 0.02 - time.monotonic()))
            for events in media.values():
                if i < len(events):
                    await ws.send(to_text(events[i]))
        await ws.send(to_text(media_stop_event()))
        await task


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(f"usage: python {sys.argv[0]} FILE ws://HOST:PORT [HOTWORDS]")
    asyncio.run(main(*sys.argv[1:]))
