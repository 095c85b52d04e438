"""The network-free core: a Recognizer holds the shared model; a Session holds one stream.

    rec = Recognizer.from_pretrained()            # bundled model and LM
    s = rec.session(chunk_ms=320, hotwords=["jerusalem"])
    events = s.accept(samples)                     # mono at 16 kHz (float, or int16/int32 PCM), any length
    events += s.finish()
    rec.session(final_pass=True)                  # partials as above; each final re-decoded at full context
    rec.session(sample_rate=8000)                 # samples at their own rate, resampled as a stream

No I/O happens here: samples in, events out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soxr
import torch

from streamasr.backends import load_encoder
from streamasr.decoder import CTCPrefixDecoder, DecoderConfig, LanguageModel
from streamasr.decoder.greedy import GreedyDecoder
from streamasr.decoder.word_times import word_spans
from streamasr.encoder import StreamingEncoder, StreamState
from streamasr.encoder.masks import subsampled_length
from streamasr.endpoint import (EndpointConfig, block_levels, endpoint_cause, is_loud, is_quiet, is_tail_endpoint,
                                level_decides, speech_frames, speech_span)
from streamasr.errors import ModelError
from streamasr.events import Alternative, Event, Final, Partial, Word
from streamasr.features import FeatureState, StreamingLogMel, num_frames
from streamasr.model import DEFAULT_LM, DEFAULT_MODEL, AcousticModel, load_model
from streamasr.pipe import MAX_RAW_RATE, MIN_RAW_RATE
from streamasr.samples import float_samples
from streamasr.tokens import Tokenizer

SUBSAMPLING = 4
WHOLE_SEARCH_MARGIN = 4  # frames (160 ms) searched on either side of the speech of a whole segment (speech_span)
FINAL_PASS_CHUNK_S = 20.0  # the final pass sees whole segments up to this long (EndpointConfig's max, by default)


@dataclass(frozen=True)
class SessionConfig:
    chunk_ms: int = 320  # audio per encoder chunk; 0 = whole utterance at once (no partials)
    left_chunks: int = 8  # attention left context in chunks; bounded so a chunk costs the same at any hour (-1: all)
    search: str = "beam"  # "beam" (prefix beam search, with the LM if any) or "greedy"
    hotwords: tuple[str, ...] = ()  # words and phrases to favour in this stream
    hotword_weight: float | None = None  # their bonus per word (None: the recognizer's DecoderConfig.hotword_weight)
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)  # when a segment ends
    final_pass: bool = False  # each final re-decodes its segment at full context (partials stay streaming)
    alternatives: int = 0  # finals carry up to this many ranked texts of the search, best first (0: none)
    fresh_after_pause: bool = True  # after a pause, skip its quiet chunks and start the encoder afresh at the next sound
    sample_rate: int | None = None  # Hz of the samples given to accept (None: the model's); others resampled as a stream


class Recognizer:
    """Shared, read-only: model weights, tokens, language model, search settings."""

    def __init__(self, model: AcousticModel, tokenizer: Tokenizer, lm: LanguageModel | None = None,
                 decoder: DecoderConfig = DecoderConfig(), encoder: StreamingEncoder | None = None):
        self.model = model.eval()
        # The streaming encoder: the model's own (torch) or an OnnxEncoder with the same interface.
        # Whole-utterance decoding (chunk_ms=0) always runs the torch model.
        self.encoder: StreamingEncoder = encoder if encoder is not None else model.encoder
        self.tokenizer = tokenizer
        self.lm = lm
        self.decoder_cfg = decoder
        self.features = StreamingLogMel(model.feature_cfg)
        self.frame_ms = model.feature_cfg.hop_ms * SUBSAMPLING  # one encoder frame

    @classmethod
    def from_pretrained(cls, model_dir: str | Path | None = None, lm: str | Path | None = "default",
                        decoder: DecoderConfig = DecoderConfig(), backend: str = "torch") -> "Recognizer":
        """Load a model folder (default: bundled). ``lm``: a KenLM path, "default" for the bundled one, None for none.

        ``backend``: "torch", "onnx" or "onnx-int8" (see ``streamasr.backends``) runs the streaming encoder."""
        folder = Path(model_dir) if model_dir else DEFAULT_MODEL
        model, tok = load_model(folder)
        encoder = load_encoder(backend, model, folder)
        if lm == "default":
            if not DEFAULT_LM.is_file():  # an install that lost it would otherwise decode worse, and say nothing
                raise ModelError(f"the bundled LM is missing ({DEFAULT_LM}): reinstall streamasr, or decode "
                                 "without an LM (lm=None, --no-lm)")
            lm = DEFAULT_LM
        return cls(model, tok, LanguageModel(lm) if lm else None, decoder, encoder)

    @property
    def sample_rate(self) -> int:
        return self.model.feature_cfg.sample_rate

    def session(self, chunk_ms: int = 320, left_chunks: int = 8, search: str = "beam",
                hotwords: tuple[str, ...] | list[str] = (), endpoint: EndpointConfig = EndpointConfig(),
                final_pass: bool = False, alternatives: int = 0, fresh_after_pause: bool = True,
                hotword_weight: float | None = None, sample_rate: int | None = None) -> "Session":
        return Session(self, SessionConfig(chunk_ms, left_chunks, search, tuple(hotwords), hotword_weight, endpoint,
                                           final_pass, alternatives, fresh_after_pause, sample_rate))


class Session:
    """All per-stream state. ``accept`` and ``finish`` return events; nothing else is shared."""

    def __init__(self, rec: Recognizer, cfg: SessionConfig):
        if cfg.chunk_ms < 0 or (cfg.chunk_ms and cfg.chunk_ms % int(rec.frame_ms)):
            raise ValueError(f"chunk_ms must be a multiple of {int(rec.frame_ms)} ms (or 0), got {cfg.chunk_ms}")
        if cfg.left_chunks < -1:
            raise ValueError(f"left_chunks must be -1 (all) or more, got {cfg.left_chunks}")
        if cfg.search not in ("beam", "greedy"):
            raise ValueError(f"search must be 'beam' or 'greedy', got {cfg.search!r}")
        if cfg.alternatives < 0:
            raise ValueError(f"alternatives must be 0 or more, got {cfg.alternatives}")
        if cfg.hotword_weight is not None and not (math.isfinite(cfg.hotword_weight) and cfg.hotword_weight >= 0):
            raise ValueError(f"hotword_weight must be a number 0 or more, got {cfg.hotword_weight}")
        rate = cfg.sample_rate
        if rate is not None and not (isinstance(rate, (int, np.integer)) and not isinstance(rate, bool)
                                     and MIN_RAW_RATE <= rate <= MAX_RAW_RATE):
            raise ValueError(f"sample_rate must be a whole number of Hz in {MIN_RAW_RATE}..{MAX_RAW_RATE}, got {rate!r}")
        self.rec, self.cfg = rec, cfg
        # the samples' own rate to the model's, as a stream: any split of them gives the same samples out
        self.resampler = (soxr.ResampleStream(int(rate), rec.sample_rate, 1, dtype="float32")
                          if rate is not None and rate != rec.sample_rate else None)
        self.chunk = cfg.chunk_ms // int(rec.frame_ms)  # encoder frames per chunk, 0 = offline
        if cfg.search == "greedy":
            self.decoder = GreedyDecoder(rec.tokenizer, rec.decoder_cfg.confidence_power)
        else:
            decoding = rec.decoder_cfg if cfg.hotword_weight is None else replace(rec.decoder_cfg,
                                                                                   hotword_weight=cfg.hotword_weight)
            self.decoder = CTCPrefixDecoder(decoding, rec.tokenizer, rec.lm, cfg.hotwords)
        self.feat_state = FeatureState()
        self.samples: list[np.ndarray] = []  # (S,) pieces received but not yet turned into features
        self.num_samples = 0  # samples in ``self.samples``
        self.feats = torch.zeros(0, rec.model.feature_cfg.n_mels)  # (T, F) normalized, not yet encoded
        self.final_pass = cfg.final_pass and self.chunk > 0  # whole-utterance decoding has full context already
        self.seg_feats: list[torch.Tensor] = []  # (T_i, F) normalized features from ``seg_feats_base`` on
        self.seg_feats_base = 0  # stream feature index of the first row of ``seg_feats``
        self.enc_state = rec.encoder.init_state(max(self.chunk, 1), cfg.left_chunks)
        self.frames_done = 0  # encoder frames of the whole stream
        self.block = rec.model.feature_cfg.hop_length  # samples per level block (one feature hop)
        self.tail_rule = bool(self.chunk) and cfg.endpoint.tail_floor_db > 0
        self.levels = np.zeros(0)  # (n,) dB of the blocks from ``levels_base`` on (only with the tail rule)
        self.levels_base = 0  # stream block index of levels[0]
        self.level_rest = np.zeros(0, np.float32)  # differenced samples after the last whole block
        self.level_last = 0.0  # the last sample received, for the first difference
        self.tail_next = 0  # the next block the tail rule judges
        self.tail_quiet = True  # every block judged since the last encoded frame was quiet
        self.segment = 0
        self._new_segment("start")  # quiet chunks before the stream's first sound are skipped
        self.finished = False

    def _new_segment(self, after: str) -> None:
        # ``after``: what the segment follows: "start" (the stream's), "pause" (the last segment ended in
        # silence), or "length" (the last one was cut at its longest, whatever was being said).
        # Training utterances begin where their speech does; a segment that follows a pause, with the last
        # one's speech and the pause in the encoder's left context, reads worse (benchmarks/endpoint.py).
        # So the chunks that are quiet against the last segment's floor (by the tail rule's levels) are
        # skipped, and once one is, the encoder starts afresh, as a new stream (``pending_window``).
        # Where levels cannot tell (no tail rule, loud noise) or the next chunk has sound, the context carries on.
        # At the stream's start, with no segment before to know its floor by, quiet is below a fixed level.
        ep = self.cfg.endpoint
        self.quiet_below: float | None = None  # while waiting for sound after a pause: dB under which a block is quiet
        if after != "length" and self.cfg.fresh_after_pause and self.tail_rule:
            if after == "start":
                self.quiet_below = ep.start_quiet_db
            elif level_decides(ep, self.seg_floor, self.seg_peak):
                self.quiet_below = self.seg_floor + ep.tail_floor_db  # the segment before's floor
        self.decoder.forget()  # its caches hold the last segment's texts
        self.beam = self.decoder.init_state()
        self.seg_start = self.frames_done  # first encoder frame of this segment
        self.last_speech = -1  # last non-silent frame within the segment (-1: none)
        self.last_partial = ("", 0)  # (text, stable words) of the segment's last Partial
        self._forget_features_before_segment()
        if self.tail_rule:  # levels before the segment are no longer needed
            self._forget_levels_before(self.seg_start * SUBSAMPLING)
            judged = self.levels[: max(0, self.tail_next - self.levels_base)]
            self.seg_peak = float(judged.max()) if len(judged) else -np.inf  # loudest block of the segment so far
            self.seg_floor = float(judged.min()) if len(judged) else np.inf  # quietest block of the segment so far

    # --- public API -----------------------------------------------------------------
    @property
    def partial_text(self) -> str:
        """Best text of the open segment so far."""
        return self.decoder.best_text(self.beam).strip()

    @property
    def segment_start_ms(self) -> int:
        """Where the open segment starts in the stream: no final this session gives from now on starts
        before it (nor does any of its words). It only moves forward."""
        return int(self.seg_start * self.rec.frame_ms)

    def accept(self, samples: np.ndarray) -> list[Event]:
        """Feed (S,) mono samples at ``SessionConfig.sample_rate`` (the model's unless set), float in [-1, 1] or
        int16/int32 PCM (``float_samples``); return the events they produce."""
        events = self.feed(samples)
        return events + self.encode_pending()

    def encode_pending(self) -> list[Event]:
        """Encode and decode every whole chunk that is ready, one at a time."""
        events: list[Event] = []
        while (window := self.pending_window()) is not None:
            logp, state = self.rec.encoder.forward_chunk(window[None], self.enc_state)  # (1, C, V)
            events += self.advance(logp[0].numpy(), state)
        return events

    # The three steps of ``accept``, for servers that encode the chunks of many sessions in one call.
    def feed(self, samples: np.ndarray) -> list[Event]:
        """Take (S,) samples (as ``float_samples`` reads them, at ``SessionConfig.sample_rate``); they become
        features once a chunk's worth has arrived.

        Returns the final of a segment that a quiet tail ends (see ``endpoint.is_tail_endpoint``)."""
        if self.finished:
            raise RuntimeError("session already finished")
        x = float_samples(samples)
        if x.ndim != 1:
            raise ValueError(f"expected mono samples of shape (S,), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("samples contain NaN or infinity")
        return self._take(x if self.resampler is None else self.resampler.resample_chunk(x))

    def _take(self, x: np.ndarray) -> list[Event]:
        # (S,) samples at the model's rate: kept for features, and their levels judged by the tail rule
        x = np.clip(x, -1.0, 1.0)
        self.samples.append(x)
        self.num_samples += len(x)
        if not self.tail_rule or not len(x):
            return []
        r = len(self.level_rest)
        d = np.empty(r + len(x), np.float32)  # (r + S,): the rest of the last block, then x's first difference
        d[:r] = self.level_rest
        d[r] = x[0] - np.float32(self.level_last)  # the first difference is a high-pass
        np.subtract(x[1:], x[:-1], out=d[r + 1 :])
        self.level_last = float(x[-1])
        x = d
        whole = len(x) // self.block * self.block
        self.levels = np.concatenate([self.levels, block_levels(x[:whole], self.block)])
        self.level_rest = x[whole:]
        return self._judge_tail()

    def chunk_ready(self) -> bool:
        """Whether the audio received makes a whole chunk (``pending_window`` has one); computes nothing."""
        if self.chunk == 0:
            return False
        win, _ = self.rec.encoder.chunk_window(self.chunk)
        cfg = self.rec.model.feature_cfg
        return self.feats.shape[0] + num_frames(self.feat_state.leftover.numel() + self.num_samples, cfg) >= win

    def pending_window(self) -> torch.Tensor | None:
        """Features (4C+3, F) of the next whole chunk, to run with ``self.enc_state``; None if none is ready.

        After a pause (``SessionConfig.fresh_after_pause``) the quiet chunks before the next sound are
        skipped here: never encoded, their time passing all the same."""
        win, hop = self.rec.encoder.chunk_window(self.chunk)
        while self.chunk_ready():
            if self.feats.shape[0] < win:
                self._featurize()  # features in one call per chunk, not one per received piece
            if self.quiet_below is None:
                return self.feats[:win]
            lo = self.frames_done * SUBSAMPLING - self.levels_base
            heard = self.levels[lo : lo + win]  # (<= 4C+3,) dB of the blocks the chunk's frames hear
            if self.last_speech >= 0 or len(heard) < win or (heard >= self.quiet_below).any():
                self.quiet_below = None  # sound: the segment's speech may begin in this chunk
                return self.feats[:win]
            self._skip_chunk(hop)
        return None

    def advance(self, logp: np.ndarray, state: StreamState) -> list[Event]:
        """Take the encoder's output (C, V) and state for ``pending_window()``: consume it and decode."""
        _, hop = self.rec.encoder.chunk_window(self.chunk)
        self.feats = self.feats[hop:]
        self.enc_state = state
        events = self._decode(logp)
        if self.tail_rule:
            self.tail_quiet = True  # a new tail begins after this chunk
            events += self._judge_tail()
        return events

    def finish(self) -> list[Event]:
        """Flush the last partial chunk and close the stream with a final for the open segment."""
        if self.finished:
            return []
        events: list[Event] = []
        if self.resampler is not None:  # the resampler's tail, as the last samples of the stream
            events += self._take(self.resampler.resample_chunk(np.zeros(0, np.float32), last=True))
            events += self.encode_pending()
        self._featurize()
        self.finished = True
        if subsampled_length(self.feats.shape[0]) == 0:
            pass  # too little audio left for one encoder frame
        elif self.chunk == 0:
            with torch.no_grad():
                logp, _ = self.rec.model(self.feats[None], torch.tensor([self.feats.shape[0]]))  # (1, n, V)
            self.beam = self._search_whole(logp[0].numpy())
            self.frames_done = logp.shape[1]
        else:
            events += self._encode(self.feats)
        self.feats = self.feats[:0]
        events.append(self._final())
        return events

    # --- internals ------------------------------------------------------------------------
    def _featurize(self) -> None:
        # every received sample -> normalized features (T, F); the same frames however the audio was split
        if not self.samples:
            return
        x = torch.from_numpy(np.concatenate(self.samples))  # (S,)
        self.samples, self.num_samples = [], 0
        frames, self.feat_state = self.rec.features.accept(x, self.feat_state)  # (T', F)
        frames = self.rec.model.normalize(frames)
        self.feats = torch.cat([self.feats, frames])  # (T, F)
        if self.final_pass:
            self.seg_feats.append(frames)

    def _skip_chunk(self, hop: int) -> None:
        # A quiet chunk before a segment's speech: its time passes, the segment starts after it, and the
        # encoder starts afresh (nothing of the segment before, nor of the pause, in its context).
        if self.enc_state.offset:  # not yet fresh (both kinds of state count the frames they have encoded)
            self.enc_state = self.rec.encoder.init_state(self.chunk, self.cfg.left_chunks)
        self.feats = self.feats[hop:]
        self.frames_done += self.chunk
        self.seg_start = self.frames_done
        self.beam = self.decoder.init_state()  # it holds only blank frames (no speech yet), if any
        self._forget_features_before_segment()
        # levels already judged (they count for the segment's floor) and skipped are no longer needed
        self._forget_levels_before(min(self.seg_start * SUBSAMPLING, self.tail_next))

    def _forget_features_before_segment(self) -> None:
        # the final pass's features before the segment's first frame are no longer needed
        if self.final_pass and self.seg_feats:
            kept = torch.cat(self.seg_feats)[self.seg_start * SUBSAMPLING - self.seg_feats_base :]  # (T, F)
            self.seg_feats, self.seg_feats_base = [kept], self.seg_start * SUBSAMPLING

    def _forget_levels_before(self, block: int) -> None:
        # the levels of the stream's blocks before ``block``
        drop = max(0, min(block - self.levels_base, len(self.levels)))
        self.levels, self.levels_base = self.levels[drop:], self.levels_base + drop

    def _judge_tail(self) -> list[Event]:
        # Each block of the next chunk's span is judged once, in order, before that chunk is
        # encoded, so the events do not depend on how the audio was split into pieces.
        ep, fms = self.cfg.endpoint, self.rec.frame_ms / 1000
        first = self.frames_done * SUBSAMPLING  # first block not yet encoded
        limit = min(self.levels_base + len(self.levels), (self.frames_done + self.chunk) * SUBSAMPLING)
        events: list[Event] = []
        while self.tail_next < limit:
            b = self.tail_next
            self.tail_next += 1
            level = float(self.levels[b - self.levels_base])
            self.seg_peak, self.seg_floor = max(self.seg_peak, level), min(self.seg_floor, level)
            if b < first:
                continue  # already encoded: counts for the segment's level only
            self.tail_quiet = self.tail_quiet and is_quiet(ep, level, self.seg_floor, self.seg_peak)
            if not self.tail_quiet or self.last_speech < 0:
                continue
            encoded_silence = (self.frames_done - self.seg_start - self.last_speech) * fms
            if is_tail_endpoint(ep, encoded_silence, (b + 1 - first) * self.block / self.rec.sample_rate):
                events.append(self._final())
                self._new_segment("pause")
        return events

    def _loud(self, frame: int) -> bool:
        # whether the 10 ms blocks encoder frame ``frame`` hears (4 of its own, 3 more of context) are loud
        if not self.tail_rule:
            return False
        lo = frame * SUBSAMPLING - self.levels_base
        blocks = self.levels[max(lo, 0) : max(lo + SUBSAMPLING + 3, 0)]  # (<= 7,) dB
        # is_loud only asks whether a level clears a bar, so the loudest block answers for all of them
        return len(blocks) > 0 and is_loud(self.cfg.endpoint, float(blocks.max()), self.seg_floor, self.seg_peak)

    def _encode(self, feats: torch.Tensor) -> list[Event]:
        # feats: (4n+3, F) -> n encoder frames decoded (the last, partial chunk of a stream)
        logp, self.enc_state = self.rec.encoder.forward_chunk(feats[None], self.enc_state)  # (1, n, V)
        return self._decode(logp[0].numpy())

    def _decode(self, logp: np.ndarray) -> list[Event]:
        # logp: (n, V); endpoints are checked frame by frame so a segment ends where its silence does
        events: list[Event] = []
        ep, fms = self.cfg.endpoint, self.rec.frame_ms / 1000
        start, base = 0, self.frames_done
        for i, speech in enumerate(speech_frames(ep, logp).tolist()):
            frame = base + i + 1  # frames of the stream through this one
            if speech or (self.last_speech >= 0 and self._loud(frame - 1)):
                self.last_speech = frame - self.seg_start
            seg_len = frame - self.seg_start
            silence = seg_len - max(self.last_speech, 0)
            cause = endpoint_cause(ep, silence * fms, seg_len * fms, self.last_speech >= 0) if self.chunk else None
            if cause is not None:
                self.beam = self.decoder.step(logp[start : i + 1], self.beam)
                start = i + 1
                self.frames_done = frame
                if self.last_speech >= 0:
                    events.append(self._final())
                self._new_segment(cause)
        if self.chunk and self.last_speech < 0:
            # No speech in the segment yet: these frames are not searched (in noise an LM would spell words out
            # of the model's doubt); the search's frame count moves on, for the times of the words to come.
            self.beam = self.decoder.init_state(self.beam.frame + len(logp) - start)
        else:
            self.beam = self.decoder.step(logp[start:], self.beam)
        self.frames_done = base + len(logp)
        # Settled words are the final's: a segment that has heard speech ends with a final (a segment without
        # any is dropped at its silence, final-less), and the final pass decodes the segment anew.
        settled = self.last_speech >= 0 and not self.final_pass
        text, stable = self.partial_text, self.decoder.settled_words(self.beam) if settled else 0
        if self.chunk and (text, stable) != self.last_partial:
            self.last_partial = (text, stable)
            events.append(Partial(text, int(self.frames_done * self.rec.frame_ms), stable))
        return events

    def _final(self) -> Final:
        beam = self._second_pass() if self.final_pass else self.beam
        ms, off, dec = self.rec.frame_ms, self.seg_start, self.rec.decoder_cfg

        def words(hyp) -> tuple[Word, ...]:  # where each word was heard, from its spikes (decoder/word_times.py)
            spans = word_spans([(off + w.start, off + w.end) for w in hyp.words], ms, dec.word_lead_ms,
                               dec.word_lag_ms, off * ms, self.frames_done * ms)
            return tuple(Word(w.word, start, end, w.conf) for w, (start, end) in zip(hyp.words, spans))

        if self.cfg.alternatives:
            ranked = self.decoder.nbest(beam, self.cfg.alternatives)  # ranked[0] is finalize's
            alternatives = tuple(Alternative(h.text, round(h.score, 3), words(h)) for h in ranked)
            text, final_words = alternatives[0].text, alternatives[0].words
        else:
            hyp, alternatives = self.decoder.finalize(beam), ()
            text, final_words = hyp.text, words(hyp)
        final = Final(self.segment, text, int(off * ms), int(self.frames_done * ms), final_words, alternatives)
        self.segment += 1
        return final

    def _second_pass(self):
        # The segment's frames again, encoded at full context (every frame sees the whole segment) and
        # decoded from a fresh search state: the final that whole-utterance decoding of the segment gives.
        # Segments longer than FINAL_PASS_CHUNK_S go in chunks of that length, each seeing the one before,
        # so the cost stays linear in the segment (attention over a whole 2-minute segment is not).
        n = self.frames_done - self.seg_start  # encoder frames of the segment
        if n <= 0:
            return self.beam
        lo = self.seg_start * SUBSAMPLING - self.seg_feats_base
        feats = torch.cat(self.seg_feats)[lo : lo + SUBSAMPLING * n + 3]  # (4n+3, F): exactly n frames
        chunk = min(n, int(FINAL_PASS_CHUNK_S * 1000 / self.rec.frame_ms))  # encoder frames per chunk
        win, hop = self.rec.encoder.chunk_window(chunk)
        state, rows = self.rec.encoder.init_state(chunk, 1), []
        for start in range(0, SUBSAMPLING * n, hop):  # the session's own encoder (torch or ONNX)
            logp, state = self.rec.encoder.forward_chunk(feats[None, start : start + win], state)  # (1, c, V)
            rows.append(logp[0].numpy())
        return self._search_whole(np.concatenate(rows))  # (n, V)

    def _search_whole(self, logp: np.ndarray):
        # logp: (n, V) of a whole segment (the final pass's) or stream (offline) -> the search's state after it,
        # its frames around the speech searched (``speech_span``), from a fresh state
        lo, hi = speech_span(self.cfg.endpoint, logp, WHOLE_SEARCH_MARGIN)
        beam = self.decoder.step(logp[lo:hi], self.decoder.init_state(lo))
        return replace(beam, frame=len(logp))

