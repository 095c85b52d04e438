"""The hotword matcher alone: what a phrase earns, on the way and in all."""

from hypothesis import given, settings
from hypothesis import strategies as st

from streamasr.decoder.hotwords import NO_MATCH, Hotwords

WORDS = ["the", "my", "new", "york", "beatles", "computer", "london", "zion"]
phrases = st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join), min_size=1, max_size=5)
WEIGHT = 7.5


@settings(max_examples=300, deadline=None)
@given(phrases, st.lists(st.sampled_from(WORDS + ["flocks"]), max_size=12), st.sampled_from(WORDS + ["fl", "x"]))
def test_what_is_not_yet_confirmed_never_exceeds_one_weight(given_phrases, said, letters):
    """After any words, the match's pending share, and with any letters of the next word what they would add,
    stay within one weight: a hypothesis on its way into a phrase outscores others by no more than a single
    hotword could."""
    hw, match = Hotwords(given_phrases, WEIGHT), NO_MATCH
    for word in said:
        _, match = hw.advance(match, word)
        assert 0.0 <= match.pending <= WEIGHT + 1e-9
        for k in range(1, len(letters) + 1):
            assert match.pending + hw.partial(match, letters[:k]) <= WEIGHT + 1e-9


@settings(max_examples=300, deadline=None)
@given(phrases, st.data())
def test_a_phrase_said_earns_a_weight_per_word_and_one_broken_off_earns_nothing(given_phrases, data):
    """Said in full, a phrase has earned one weight per word and nothing is left pending; broken off before
    its last word, it has earned nothing."""
    hw = Hotwords(given_phrases, WEIGHT)
    phrase = data.draw(st.sampled_from(sorted(hw.phrases)))
    match, total = NO_MATCH, 0.0
    for word in phrase:
        earned, match = hw.advance(match, word)
        total += earned
    assert abs(total - WEIGHT * len(phrase)) < 1e-9 and match.pending == 0.0
    if len(phrase) > 1 and not any(phrase[:k] in hw.phrases for k in range(1, len(phrase))):
        # its first words (none of them a phrase of its own), then a word no phrase has: all given back
        match, total = NO_MATCH, 0.0
        for word in phrase[:-1] + ("flocks",):
            earned, match = hw.advance(match, word)
            total += earned
        assert abs(total) < 1e-9 and match == NO_MATCH


def test_a_phrase_that_begins_a_longer_one_keeps_its_bonus_and_the_longer_one_earns_the_rest():
    hw = Hotwords(["john", "john smith"], WEIGHT)
    first, match = hw.advance(NO_MATCH, "john")
    second, after = hw.advance(match, "smith")
    broken, _ = hw.advance(match, "said")
    assert (first, second, broken) == (WEIGHT, WEIGHT, 0.0) and after == NO_MATCH
