"""The bundled model and LM on real synthesized speech, through the library and the CLI."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import streamasr
from speech import HELD_OUT_SENTENCES as SENTENCES, espeak
from streamasr.events import transcript
from streamasr.metrics import error_rate

MAX_WER = 0.35  # on these four sentences, streaming at 320 ms with the LM
SAMPLE = str(Path(streamasr.__file__).parent / "assets" / "sample.wav")


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech")
    return [(espeak(s, folder / f"{i}.wav"), folder / f"{i}.wav") for i, s in enumerate(SENTENCES)]


def transcribe(session, samples):
    events = session.accept(samples) + session.finish()
    return transcript(events), events


def test_streaming_recognizes_held_out_sentences(bundled_rec, speech):
    hyps = [transcribe(bundled_rec.session(chunk_ms=320), samples)[0] for samples, _ in speech]
    assert error_rate(SENTENCES, hyps) <= MAX_WER, hyps


def test_final_words_have_ordered_times_inside_the_audio(bundled_rec, speech):
    samples, _ = speech[0]
    _, events = transcribe(bundled_rec.session(chunk_ms=320), samples)
    words = [w for e in events if e.type == "final" for w in e.words]
    assert len(words) >= 5
    duration_ms = 1000 * len(samples) / 16000
    for a, b in zip(words, words[1:]):
        assert a.start_ms < a.end_ms <= b.start_ms
    assert 0 <= words[0].start_ms and words[-1].end_ms <= duration_ms + 100
    assert all(0.0 < w.conf <= 1.0 for w in words)


def test_bundled_model_decodes_as_well_as_pyctcdecode(bundled_rec, speech):
    """Same log-probs (the bundled model's, on real speech, shaped by the temperature and blank penalty, which
    pyctcdecode has no setting for), LM and weights: our search makes no more word errors than pyctcdecode's.
    (The two keep different prefixes: on BPE pieces ours sums the spellings of one text and keeps one of the
    prefixes that share a future; pyctcdecode keeps blank- and token-ended prefixes as separate beams.)"""
    import torch
    from pyctcdecode import build_ctcdecoder

    from streamasr.decoder import CTCPrefixDecoder
    from streamasr.decoder.ctc_prefix import search_log_probs

    cfg, lm, tok = bundled_rec.decoder_cfg, bundled_rec.lm, bundled_rec.tokenizer
    shape = (cfg.temperature, cfg.blank_penalty)
    cfg = dataclasses.replace(cfg, temperature=1.0, blank_penalty=0.0)  # both search the log-probs shaped once
    ref = build_ctcdecoder(tok.labels(), str(lm.path), sorted(lm.unigrams), alpha=cfg.alpha, beta=cfg.beta,
                           unk_score_offset=cfg.unk_offset)
    ours = CTCPrefixDecoder(cfg, tok, lm)
    mine, theirs = [], []
    for samples, _ in speech:
        feats = bundled_rec.model.normalize(bundled_rec.features.logmel(torch.from_numpy(samples)))[None]
        with torch.no_grad():
            logp, _ = bundled_rec.model(feats, torch.tensor([feats.shape[1]]), chunk=8, left_chunks=8)
        logp = search_log_probs(logp[0].numpy(), *shape)  # (T', V)
        mine.append(ours.finalize(ours.step(logp, ours.init_state())).text)
        theirs.append(ref.decode(logp, beam_width=cfg.beam, beam_prune_logp=cfg.beam_prune_logp,
                                 token_min_logp=cfg.token_min_logp))
    assert error_rate(SENTENCES, mine) <= error_rate(SENTENCES, theirs), (mine, theirs)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "streamasr.cli.main", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_json_prints_partials_before_the_final(speech):
    _, wav = speech[0]
    out = run_cli("transcribe", str(wav), "--json")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds.count("partial") >= 3 and kinds[-1] == "final"
    assert kinds.index("final") > kinds.index("partial")
    final_text = " ".join(e["text"] for e in events if e["type"] == "final")
    assert error_rate([SENTENCES[0]], [final_text]) <= 0.5


def test_cli_takes_any_rate_and_channel_count(speech, tmp_path):
    samples, _ = speech[2]
    import torchaudio
    import torch

    x48 = torchaudio.functional.resample(torch.from_numpy(samples), 16000, 48000).numpy()
    sf.write(tmp_path / "stereo48k.wav", np.stack([x48, x48 * 0.5], axis=1), 48000)
    x8 = torchaudio.functional.resample(torch.from_numpy(samples), 16000, 8000).numpy()
    sf.write(tmp_path / "tel8k.flac", x8, 8000)
    for name in ("stereo48k.wav", "tel8k.flac"):
        out = run_cli("transcribe", str(tmp_path / name))
        assert out.returncode == 0, out.stderr
        assert error_rate([SENTENCES[2]], [" ".join(out.stdout.split())]) <= 0.5, (name, out.stdout)


def test_cli_silence_sets_where_a_pause_ends_a_segment(speech, tmp_path):
    """Two sentences 0.7 s apart: one final each at the default 0.4 s, one final for both at 1.5 s."""
    gap = np.zeros(int(0.7 * 16000), np.float32)
    sf.write(tmp_path / "two.wav", np.concatenate([speech[0][0], gap, speech[1][0]]), 16000)
    counts = {}
    for silence in ("0.4", "1.5"):
        out = run_cli("transcribe", str(tmp_path / "two.wav"), "--json", "--silence", silence)
        assert out.returncode == 0, out.stderr
        counts[silence] = sum(json.loads(line)["type"] == "final" for line in out.stdout.splitlines())
    assert counts == {"0.4": 2, "1.5": 1}


def test_cli_hotwords_find_a_name_the_lm_has_never_seen(tmp_path):
    """--hotwords reaches the session: "london" is not in the LM, and only the hotword brings it; a phrase
    ("my computer", comma-separated from the others) is found as one."""
    from speech import espeak

    texts = []
    for i, sentence in enumerate(["and they went unto london in the morning",
                                  "behold my computer is in the house of the king"]):
        espeak(sentence, tmp_path / f"{i}.wav")
        for args in ([], ["--hotwords", "Paris, London,My  Computer"]):
            out = run_cli("transcribe", str(tmp_path / f"{i}.wav"), *args)
            assert out.returncode == 0, out.stderr
            texts.append(out.stdout.split())
    assert "london" not in texts[0] and "london" in texts[1] and "paris" not in texts[1], texts
    assert "computer" not in texts[2] and "my computer" in " ".join(texts[3]), texts


def test_cli_final_pass_gives_the_offline_final_after_streaming_partials(speech):
    _, wav = speech[1]
    runs = {}
    for name, args in (("two_pass", ["--final-pass"]), ("offline", ["--chunk-ms", "0"])):
        out = run_cli("transcribe", str(wav), "--json", *args)
        assert out.returncode == 0, out.stderr
        runs[name] = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["type"] for e in runs["two_pass"]].count("partial") >= 3
    assert [e for e in runs["two_pass"] if e["type"] == "final"] == runs["offline"]


def test_cli_eval_scores_a_manifest_as_the_library_does(bundled_rec, speech, tmp_path):
    manifest = tmp_path / "test.jsonl"
    voices = ["one", "two", "one", "two"]
    manifest.write_text("".join(json.dumps({"audio": str(path), "duration": len(x) / 16000, "text": text,
                                            "voice": voice}) + "\n"
                                for (x, path), text, voice in zip(speech, SENTENCES, voices)))
    hyps = [transcribe(bundled_rec.session(chunk_ms=320), samples)[0] for samples, _ in speech]
    runs = {}
    for name, extra in {"lm": [], "no_lm": ["--no-lm"]}.items():
        out = run_cli("eval", str(manifest), "--json", *extra)
        assert out.returncode == 0, out.stderr[-2000:]
        runs[name] = json.loads(out.stdout)
    assert runs["lm"]["utterances"] == 4 and runs["lm"]["chunk_ms"] == 320 and runs["lm"]["lm"].endswith("lm.bin")
    assert runs["lm"]["wer"] == round(error_rate(SENTENCES, hyps), 4)
    assert runs["lm"]["cer"] == round(error_rate(SENTENCES, hyps, chars=True), 4)
    assert runs["no_lm"]["lm"] is None and runs["no_lm"]["wer"] != runs["lm"]["wer"]
    assert "by_voice" not in runs["lm"]
    out = run_cli("eval", str(manifest), "--by-voice", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    each = json.loads(out.stdout)["by_voice"]
    assert list(each) == ["one", "two"] and each["one"]["utterances"] == 2
    for voice, picked in (("one", [0, 2]), ("two", [1, 3])):
        assert each[voice]["wer"] == round(error_rate([SENTENCES[i] for i in picked], [hyps[i] for i in picked]), 4)
    out = run_cli("eval", str(manifest), "--by-voice")  # the human form
    assert out.returncode == 0 and out.stdout.startswith(f"WER {100 * runs['lm']['wer']:.2f}%  CER ")
    assert f"\n  two: WER {100 * each['two']['wer']:.2f}%" in out.stdout
    for args, message in [(["--backend", "onnx", "--left-chunks", "-1"], "need a bounded left context"),
                          (["--chunk-ms", "100"], "multiple of 40")]:
        out = run_cli("eval", str(manifest), *args)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
    paused = [transcribe(bundled_rec.session(chunk_ms=320), np.concatenate([np.zeros(16000, np.float32), x]))[0]
              for x, _ in speech]  # each utterance after 1 s of silence, as a stream's segments follow a pause
    out = run_cli("eval", str(manifest), "--json", "--lead-silence", "1")
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["lead_silence_s"] == 1.0
    assert json.loads(out.stdout)["wer"] == round(error_rate(SENTENCES, paused), 4)
    heard = [transcribe(bundled_rec.session(chunk_ms=320, fresh_after_pause=False),
                        np.concatenate([np.zeros(16000, np.float32), x]))[0] for x, _ in speech]  # silence encoded
    out = run_cli("eval", str(manifest), "--json", "--lead-silence", "1", "--no-fresh-after-pause")
    assert out.returncode == 0 and json.loads(out.stdout)["fresh_after_pause"] is False, out.stderr[-2000:]
    assert json.loads(out.stdout)["wer"] == round(error_rate(SENTENCES, heard), 4)
    out = run_cli("eval", str(manifest), "--lead-silence", "-1")
    assert out.returncode == 2 and "--lead-silence" in out.stderr and "Traceback" not in out.stderr
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"audio": str(tmp_path / "gone.wav"), "duration": 1.0, "text": "x"}) + "\n")
    out = run_cli("eval", str(missing))
    assert out.returncode == 2 and "no such audio file" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("args,message", [
    (["transcribe", "/nonexistent.wav"], "no such audio file"),
    (["transcribe", "/tmp"], "/tmp is a folder, not an audio file"),
    (["transcribe", __file__], "cannot read"),
    (["transcribe", __file__, "--model", "/nonexistent"], "model folder not found"),
    (["transcribe", __file__, "--lm", "/nonexistent.bin"], "language model not found"),
    (["transcribe", __file__, "--chunk-ms", "100"], "multiple of 40"),
    (["transcribe", __file__, "--silence", "0.01"], "--silence must be"),
    (["transcribe", SAMPLE, "--left-chunks", "-5"], "left_chunks must be -1 (all) or more, got -5"),
    (["eval", "/nonexistent.jsonl"], "cannot read manifest /nonexistent.jsonl: No such file"),
    (["eval", "/tmp"], "cannot read manifest /tmp: Is a directory"),
    (["eval", __file__], ":1: not a manifest line"),
    (["eval", __file__, "--limit", "-1"], "--limit must be 0 (all) or more, not -1"),
])
def test_cli_errors_are_one_clear_line(args, message):
    out = run_cli(*args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
