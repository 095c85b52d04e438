"""A streaming client of the native protocol: send a file as if live, collect the events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import numpy as np
from websockets.asyncio.client import connect

from streamasr.protocol import encode_audio, to_text


async def stream_samples(url: str, samples: np.ndarray, sample_rate: int, frame_ms: int = 100,
                         speed: float = 0.0, start: dict | None = None,
                         on_event: Callable[[dict], None] | None = None, token: str | None = None) -> list[dict]:
    """Send (S,) float32 samples as pcm_s16le frames; ``speed`` 1.0 paces at real time, 0 sends at once.

    Returns every message the server sent, in order, the last final included."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    received: list[dict] = []
    async with connect(url, additional_headers=headers, max_size=None) as ws:
        await ws.send(to_text({"type": "start", "sample_rate": sample_rate, "encoding": "pcm_s16le"}
                                 | (start or {})))

        async def reader():
            async for msg in ws:
                event = json.loads(msg)
                received.append(event)
                if on_event:
                    on_event(event)

        task = asyncio.create_task(reader())
        step = max(1, sample_rate * frame_ms // 1000)
        t0 = time.monotonic()
        for pos in range(0, len(samples), step):
            if speed > 0:
                await asyncio.sleep(max(0.0, t0 + pos / sample_rate / speed - time.monotonic()))
            await ws.send(encode_audio(samples[pos : pos + step], "pcm_s16le"))
        await ws.send(to_text({"type": "end"}))
        await task
    return received
