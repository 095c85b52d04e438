"""Replay a file as a telephony media stream: connected/start/media/stop JSON events carrying
base64 8 kHz mu-law in 20 ms frames, at real time, as Twilio Media Streams sends them. A stereo file
is a call with both tracks (left: inbound, right: outbound), each recognized on its own; its finals
name their track. The server's warnings about a track's input (only silence, too quiet, clipped) go to
stderr. HOTWORDS, if given (words and phrases separated by commas), go out as the call's custom parameter
(TwiML's <Parameter name="hotwords" value="..."/>).

    python clients/media_stream.py speech.wav ws://127.0.0.1:2700 [HOTWORDS]
"""

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect

import numpy as np
import soundfile as sf

from streamasr.audio import load_audio, load_channels
from streamasr.protocol import call_media_events, media_open_events, media_stop_event, to_text


def tracks(path: str) -> dict[str, np.ndarray]:
    """The file's audio at 8 kHz by track: a stereo file's channels are a call's inbound and outbound audio."""
    if sf.info(path).channels != 2:
        return {"inbound": load_audio(path, 8000)}
    both = load_channels(path, 8000)  # (S, 2)
    return {name: np.ascontiguousarray(both[:, c]) for c, name in enumerate(("inbound", "outbound"))}


async def main(path: str, url: str, hotwords: str = "") -> None:
    audio = tracks(path)
    async with connect(url.rstrip("/") + "/media") as ws:
        for event in media_open_events(parameters={"hotwords": hotwords} if hotwords else None,
                                       tracks=list(audio) if len(audio) > 1 else None):
            await ws.send(to_text(event))

        async def reader():
            async for msg in ws:
                event = json.loads(msg)
                if event["type"] in ("final", "error"):
                    print(to_text(event))
                elif event["type"] == "warning":  # the input check's: a dead track, audio too quiet, clipping
                    print(f"warning: {event['message']}", file=sys.stderr)

        task = asyncio.create_task(reader())
        t0 = time.monotonic()
        for event in call_media_events(audio):  # 20 ms each, at real time (its timestamp), the tracks side by side
            await asyncio.sleep(max(0.0, t0 + int(event["media"]["timestamp"]) / 1000 - time.monotonic()))
            await ws.send(to_text(event))
        await ws.send(to_text(media_stop_event()))
        await task


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(f"usage: python {sys.argv[0]} FILE ws://HOST:PORT [HOTWORDS]")
    asyncio.run(main(*sys.argv[1:]))
