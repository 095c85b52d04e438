"""streamasr: streaming speech recognition."""

from streamasr.decoder import DecoderConfig
from streamasr.endpoint import EndpointConfig
from streamasr.events import Final, Partial, Word
from streamasr.recognizer import Recognizer, Session, SessionConfig

__all__ = ["DecoderConfig", "EndpointConfig", "Final", "Partial", "Recognizer", "Session", "SessionConfig", "Word"]
__version__ = "0.1.0"
