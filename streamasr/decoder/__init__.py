from streamasr.decoder.ctc_prefix import BeamState, CTCPrefixDecoder, DecoderConfig, Hypothesis, WordInfo
from streamasr.decoder.lm import LanguageModel

__all__ = ["BeamState", "CTCPrefixDecoder", "DecoderConfig", "Hypothesis", "LanguageModel", "WordInfo"]
