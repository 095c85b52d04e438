import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from streamasr.data.synth import SynthConfig, plan, synthesize
from streamasr.data.text import kjv_sentences
from streamasr.data.voices import ENGINES, all_voices, is_heldout


def test_plan_is_reproducible_and_keeps_test_sentences_and_voices_apart():
    sentences, voices = kjv_sentences()[:3000], all_voices()
    cfg = SynthConfig(out="unused", hours=0.5, test_sentences=50, dev_sentences=50, seed=3)
    jobs, lm_text = plan(cfg, sentences, voices)
    again, _ = plan(cfg, sentences, voices)
    assert jobs == again
    by_split = {s: [j for j in jobs if j.split == s] for s in ("train", "dev", "test-seen-voices", "test-unseen-voices")}
    train_text = {j.text for j in by_split["train"]}
    for split in ("dev", "test-seen-voices", "test-unseen-voices"):
        assert len(by_split[split]) == 50
        assert not train_text & {j.text for j in by_split[split]}
        assert not set(lm_text) & {j.text for j in by_split[split]}
    assert not {j.text for j in by_split["dev"]} & {j.text for s in ("test-seen-voices", "test-unseen-voices")
                                                     for j in by_split[s]}
    assert not any(is_heldout(j.voice) for j in by_split["train"] + by_split["dev"] + by_split["test-seen-voices"])
    dev = {j.text for j in by_split["dev"]}
    moved, _ = plan(cfg, sentences, voices, avoid=frozenset(list(dev)[:10]))
    devs = ("dev", "dev-unseen-voices")
    assert [j for j in moved if j.split not in devs] == [j for j in jobs if j.split not in devs]  # only dev changes
    assert not {j.text for j in moved if j.split == "dev"} & set(list(dev)[:10])
    assert all(is_heldout(j.voice) for j in by_split["test-unseen-voices"])
    engines = {j.voice.engine for j in by_split["test-unseen-voices"]}
    assert "festival" in engines and "espeak-ng" in engines
    assert {j.voice.engine for j in by_split["train"]} == {"espeak-ng", "flite"}


def test_synthesize_writes_audio_and_manifests(tmp_path):
    counts = synthesize(SynthConfig(out=tmp_path, hours=0.005, test_sentences=2, dev_sentences=2, seed=1, jobs=2))
    assert counts["test-seen-voices"] == counts["test-unseen-voices"] == counts["dev"] == 2 and counts["train"] >= 2
    for split, n in counts.items():
        rows = [json.loads(line) for line in (tmp_path / f"{split}.jsonl").read_text().splitlines()]
        assert len(rows) == n
        for row in rows:
            assert (tmp_path / row["audio"]).is_file() and row["duration"] > 0.5 and row["text"]
    assert (tmp_path / "lm-text.txt").stat().st_size > 1000


def test_chosen_splits_equal_those_of_the_whole_corpus_and_the_plan_stands_for_its_manifests(tmp_path):
    small = dict(hours=0.005, test_sentences=2, dev_sentences=2, seed=1, jobs=2)
    synthesize(SynthConfig(out=tmp_path / "earlier", **small))  # an earlier stage's whole corpus
    only_plan = synthesize(SynthConfig(out=tmp_path / "earlier-plan", splits=(), **small))
    assert only_plan == {} and not list((tmp_path / "earlier-plan").glob("*/"))  # no audio, no manifests
    assert ((tmp_path / "earlier").joinpath("plan.jsonl").read_text()
            == (tmp_path / "earlier-plan").joinpath("plan.jsonl").read_text())
    later = dict(hours=0.01, test_sentences=2, dev_sentences=3, seed=2, jobs=2)
    whole = tmp_path / "whole"
    synthesize(SynthConfig(out=whole, dev_avoid=(tmp_path / "earlier" / "train.jsonl",), **later))
    part = tmp_path / "part"
    counts = synthesize(SynthConfig(out=part, dev_avoid=(tmp_path / "earlier-plan" / "plan.jsonl",),
                                    splits=("dev", "test-unseen-voices"), **later))
    assert set(counts) == {"dev", "test-unseen-voices"} and not (part / "train.jsonl").exists()
    for split in counts:
        assert (part / f"{split}.jsonl").read_text() == (whole / f"{split}.jsonl").read_text()
        for row in map(json.loads, (part / f"{split}.jsonl").read_text().splitlines()):
            assert _pcm_difference(part / row["audio"], whole / row["audio"]) is None, row
    assert (part / "lm-text.txt").read_text() == (whole / "lm-text.txt").read_text()
    plan_rows = [json.loads(line) for line in (whole / "plan.jsonl").read_text().splitlines()]
    train = [json.loads(line)["text"] for line in (whole / "train.jsonl").read_text().splitlines()]
    assert [r["text"] for r in plan_rows if r["split"] == "train"] == train


def _pcm_difference(a, b) -> str | None:
    """None if two 16-bit WAVs hold the same samples, up to one step each (float sums in resampling may
    round differently on another CPU); else how they differ, in one short line."""
    (x, rate_x), (y, rate_y) = sf.read(str(a), dtype="int16"), sf.read(str(b), dtype="int16")
    if rate_x != rate_y or len(x) != len(y):
        return f"{len(x)} samples at {rate_x} Hz against {len(y)} at {rate_y} Hz"
    steps = np.abs(x.astype(np.int32) - y)  # (S,)
    if steps.max(initial=0) <= 1:
        return None
    return f"{int((steps > 0).sum())} of {len(x)} samples differ, by up to {int(steps.max())} steps"


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_speaks(engine):
    from streamasr.data.voices import speak

    voice = next(v for v in all_voices(ENGINES) if v.engine == engine)
    audio = speak(voice, "and there was light", rate=1.0, pitch=0.5)
    assert 0.5 < len(audio) / 16000 < 5 and abs(audio).max() > 0.05
    slow = speak(voice, "and there was light", rate=0.8, pitch=0.5)
    assert len(slow) > len(audio) * 1.1  # the rate is obeyed
    again = speak(voice, "and there was light", rate=1.0, pitch=0.5)
    assert len(again) == len(audio)  # the same seed, the same corpus: the same timing...
    if engine != "pico":  # ...and the same samples, but for SVOX Pico, whose excitation differs from call to call
        assert abs(again - audio).max() < 1e-6


def test_added_engines_keep_the_test_sentences_and_train_avoid_keeps_dev_out():
    sentences = kjv_sentences()[:3000]
    cfg = SynthConfig(out="unused", hours=0.5, test_sentences=50, dev_sentences=50, seed=3)
    base, _ = plan(cfg, sentences, all_voices())
    dev = frozenset(j.text for j in base if j.split == "dev")
    more = SynthConfig(out="unused", hours=0.5, test_sentences=50, dev_sentences=50, seed=3, engines=ENGINES)
    jobs, _ = plan(more, sentences, all_voices(more.engines), train_avoid=dev)
    for split in ("test-seen-voices", "test-unseen-voices"):  # another corpus's training set can be added
        assert {j.text for j in jobs if j.split == split} == {j.text for j in base if j.split == split}
    train = [j for j in jobs if j.split == "train"]
    assert {j.voice.engine for j in train} == {"espeak-ng", "espeak-ng-random", "espeak-ng-accent", "flite", "pico", "piper",
                                                "converted", "diphone", "mbrola", "formant", "mbrola-accent"}
    assert not {j.text for j in train} & dev
    assert all(is_heldout(j.voice) for j in jobs if j.split == "test-unseen-voices")
    no_heldout, _ = plan(cfg, sentences, all_voices(("pico",)))  # no held-out voices: no unseen split
    assert not [j for j in no_heldout if j.split == "test-unseen-voices"]
    with pytest.raises(ValueError, match="unknown engines"):
        all_voices(("espeak-ng", "sam"))


def test_engine_first_draw_balances_engines_and_uniform_draw_does_not():
    sentences, voices = kjv_sentences()[:3000], all_voices()
    share = {}
    for draw in ("engine", "uniform"):
        jobs, _ = plan(SynthConfig(out="unused", hours=0.5, test_sentences=10, voice_draw=draw), sentences, voices)
        train = [j for j in jobs if j.split == "train"]
        share[draw] = sum(j.voice.engine == "flite" for j in train) / len(train)
    assert 0.4 < share["engine"] < 0.6  # espeak-ng and flite alike
    assert share["uniform"] < 0.03  # 3 flite voices among hundreds


def test_bad_voice_draw():
    with pytest.raises(ValueError, match="voice_draw"):
        plan(SynthConfig(out="unused", voice_draw="loud"), ["a b c d"] * 500, all_voices())


def test_piper_without_its_voice_package_is_a_clear_error(monkeypatch):
    import streamasr.data.voices as voices

    monkeypatch.setattr(voices, "PIPER_VOICES", {"en_US-nobody-medium": "no_such_piper_voice_package"})
    with pytest.raises(ValueError, match=r"pip install 'streamasr\[piper\]'"):
        all_voices(("espeak-ng", "piper"))
    assert all_voices(("espeak-ng",))  # other engines do not need it


def test_mbrola_without_its_voices_is_a_clear_error(monkeypatch):
    import streamasr.data.voices as voices

    monkeypatch.setattr(voices, "MBROLA_DIR", "/nonexistent/mbrola")
    with pytest.raises(ValueError, match="recipes/mbrola-voices.sh"):
        all_voices(("espeak-ng", "mbrola"))
    assert all_voices(("espeak-ng",))  # other engines do not need it


@pytest.mark.parametrize("args,message", [
    (["--hours", "-1"], "cannot be negative"),
    (["--jobs", "0"], "--jobs must be at least 1"),
    (["--dev-avoid", "/nonexistent.jsonl"], "No such file"),
    (["--train-avoid", __file__], ":1: not a manifest line"),
    (["--splits", "train,test"], "unknown splits ['test']"),
])
def test_synth_cli_errors_are_one_line_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "corpus"
    r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "data", "synth", "--out", str(out), *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert not out.exists()


def test_dev_unseen_speaks_dev_sentences_with_held_out_voices_and_moves_nothing_else():
    sentences, voices = kjv_sentences()[:3000], all_voices()
    cfg = SynthConfig(out="unused", hours=0.2, test_sentences=20, dev_sentences=30, dev_unseen_sentences=12, seed=4)
    jobs, lm_text = plan(cfg, sentences, voices)
    without, lm_without = plan(dataclasses.replace(cfg, dev_unseen_sentences=0), sentences, voices)
    assert [j for j in jobs if j.split != "dev-unseen-voices"] == without and lm_text == lm_without
    unseen = [j for j in jobs if j.split == "dev-unseen-voices"]
    dev = [j.text for j in jobs if j.split == "dev"]
    assert [j.text for j in unseen] == dev[:12]
    assert all(is_heldout(j.voice) for j in unseen)
    assert {j.voice.engine for j in unseen} == {j.voice.engine for j in jobs if j.split == "test-unseen-voices"}
