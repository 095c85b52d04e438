"""A vosk-server style client: config, int16 frames (one reply each), eof.

    python clients/vosk_style.py speech.wav ws://127.0.0.1:2700
"""

import asyncio
import json
import sys
from websockets.asyncio.client import connect

from streamasr.audio import load_audio
from streamasr.protocol import encode_audio


async def main(path: str, url: str) -> None:
    audio = load_audio(path, 8000)
    async with connect(url.rstrip("/") + "/vosk") as ws:
        await ws.send('{ "config" : { "sample_rate" : 8000 } }')
        for pos in range(0, len(audio), 4000):
            await ws.send(encode_audio(audio[pos : pos + 4000], "pcm_s16le"))
            print(await ws.recv())
        await ws.send('{"eof" : 1}')
        print(json.dumps(json.loads(await ws.recv()), indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: python {sys.argv[0]} FILE ws://HOST:PORT")
    asyncio.run(main(sys.argv[1], sys.argv[2]))
