"""streamasr: streaming speech recognition.

The names below load on first use (PEP 562), so that importing a light part of the package (the
CLI's argument parsing, the server's supervising process) does not import torch.
"""

from __future__ import annotations

import importlib

_WHERE = {"Alternative": "streamasr.events", "ChannelEvent": "streamasr.channels",
          "ChannelSessions": "streamasr.channels", "DecoderConfig": "streamasr.decoder",
          "EndpointConfig": "streamasr.endpoint", "Final": "streamasr.events", "Partial": "streamasr.events",
          "PipeDecoder": "streamasr.pipe", "RawFormat": "streamasr.pipe", "Word": "streamasr.events",
          "Recognizer": "streamasr.recognizer", "Session": "streamasr.recognizer",
          "SessionConfig": "streamasr.recognizer", "transcript": "streamasr.events"}

__all__ = ["Alternative", "ChannelEvent", "ChannelSessions", "DecoderConfig", "EndpointConfig", "Final", "Partial",
           "PipeDecoder", "RawFormat", "Recognizer", "Session", "SessionConfig", "Word", "transcript"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'streamasr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
