"""The caption page in Debian's headless Chromium, with synthesized speech as the fake microphone."""

import shutil

from playwright.sync_api import sync_playwright

from speech import espeak
from streamasr.metrics import error_rate

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SENTENCE = "and they sang together by course in praising and giving thanks unto the lord"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
         "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"]


def captions(url: str, wav, hotwords: str = "") -> tuple[str, str]:
    """Open the page, type ``hotwords`` if any, press Start, let the fake microphone speak, press Stop; return
    (finals, status)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=FLAGS + [f"--use-file-for-fake-audio-capture={wav}%noloop"])
        try:
            page = browser.new_page()
            page.goto(url)
            if hotwords:
                page.fill("#hotwords", hotwords)
            page.click("#toggle")
            page.wait_for_function("document.body.dataset.status === 'listening'", timeout=20000)
            page.wait_for_timeout(7000)  # the file plays in real time, then silence
            page.click("#toggle")
            page.wait_for_function("Number(document.body.dataset.finals || 0) >= 1", timeout=20000)
            page.wait_for_function("document.body.dataset.status === 'closed'", timeout=20000)
            return page.inner_text("#finals"), page.evaluate("document.body.dataset.status")
        finally:
            browser.close()


def test_page_streams_the_microphone_and_closes_cleanly(tiny_server, tmp_path):
    espeak(SENTENCE, tmp_path / "mic.wav")
    _, status = captions(f"http://127.0.0.1:{tiny_server.port}/", tmp_path / "mic.wav")
    assert status == "closed"


def test_page_shows_captions_of_the_spoken_words(model_server, tmp_path):
    espeak(SENTENCE, tmp_path / "mic.wav")
    text, _ = captions(f"http://127.0.0.1:{model_server.port}/", tmp_path / "mic.wav")
    assert error_rate([SENTENCE], [" ".join(text.split())]) <= 0.5, text


def test_page_sends_the_hotwords_in_its_box(model_server, tmp_path):
    """A name the LM has never seen, typed into the page's box or given in its address (?hotwords=): the
    captions have it (without it, they do not)."""
    espeak("and they went unto london in the morning", tmp_path / "mic.wav")
    url = f"http://127.0.0.1:{model_server.port}/"
    plain, _ = captions(url, tmp_path / "mic.wav")
    typed, _ = captions(url, tmp_path / "mic.wav", hotwords="London, Oxford")
    named, _ = captions(url + "?hotwords=london,oxford", tmp_path / "mic.wav")
    assert "london" in typed.split() and "oxford" not in typed.split(), typed
    assert "london" not in plain.split() and "london" in named.split() and "oxford" not in named.split(), \
        (plain, named)
