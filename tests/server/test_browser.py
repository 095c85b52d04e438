"""The caption page in Debian's headless Chromium, with synthesized speech as the fake microphone."""

import shutil
import socket
import threading
import time

from playwright.sync_api import sync_playwright

from speech import espeak
from streamasr.metrics import error_rate

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SENTENCE = "and they sang together by course in praising and giving thanks unto the lord"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
         "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"]


class SlowLink:
    """A TCP relay on loopback to ``port`` whose connections each hold their first reply ``delay_s``: a
    server as slow to answer as one across a slow network (the page's socket stays CONNECTING that long)."""

    def __init__(self, port: int, delay_s: float):
        self.target, self.delay_s = port, delay_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(client, upstream, 0.0), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, self.delay_s), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, delay_s: float) -> None:
        try:
            while data := src.recv(65536):
                time.sleep(delay_s)
                delay_s = 0.0
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.listener.close()


def captions(url: str, wav, hotwords: str = "", spans: list | None = None) -> tuple[str, str, str]:
    """Open the page, type ``hotwords`` if any, press Start, let the fake microphone speak, press Stop; return
    (finals, status, the last words it showed as settled in a partial). ``spans``, if given, gets each word
    the finals show as (its text, data-conf, class, title)."""
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
            if spans is not None:
                spans += page.eval_on_selector_all("#finals span", "s => s.map(e => [e.textContent, "
                                                   "Number(e.dataset.conf), e.className, e.title])")
            return (page.inner_text("#finals"), page.evaluate("document.body.dataset.status"),
                    page.evaluate("document.body.dataset.stable || ''"))
        finally:
            browser.close()


def test_page_streams_the_microphone_and_closes_cleanly(tiny_server, tmp_path):
    espeak(SENTENCE, tmp_path / "mic.wav")
    _, status, _ = captions(f"http://127.0.0.1:{tiny_server.port}/", tmp_path / "mic.wav")
    assert status == "closed"


def test_page_shows_captions_of_the_spoken_words(model_server, tmp_path):
    """... and, before the final, the partial's settled words (``stable_words``), which begin the final."""
    espeak(SENTENCE, tmp_path / "mic.wav")
    spans = []
    text, _, settled = captions(f"http://127.0.0.1:{model_server.port}/", tmp_path / "mic.wav", spans=spans)
    assert error_rate([SENTENCE], [" ".join(text.split())]) <= 0.5, text
    assert settled and any(line.startswith(settled) for line in text.splitlines()), (settled, text)
    # each word of the finals on its own, its time and confidence on hover, under 0.7 marked unsure
    assert [w for w, *_ in spans] == text.split()
    assert all(0 <= conf <= 1 and (cls == "unsure") == (conf < 0.7) for _, conf, cls, _ in spans), spans
    assert all(title.endswith(f"s, confidence {conf:.2f}") for _, conf, _, title in spans), spans


def test_page_marks_the_words_under_its_unsure_confidence(model_server, tmp_path):
    """``?unsure=C`` sets the confidence under which a final's words are shown as unsure (default 0.7)."""
    espeak(SENTENCE, tmp_path / "mic.wav")
    spans = []
    captions(f"http://127.0.0.1:{model_server.port}/?unsure=1.01", tmp_path / "mic.wav", spans=spans)
    assert spans and all(cls == "unsure" for _, _, cls, _ in spans), spans


def test_page_keeps_the_speech_heard_while_its_socket_connects(model_server, tmp_path):
    """The server answers the page's socket 2 s late: the words spoken meanwhile are captioned all the
    same (the page holds the frames it captures while the socket connects, then sends them after the start
    message)."""
    espeak(SENTENCE, tmp_path / "mic.wav")
    link = SlowLink(model_server.port, delay_s=2.0)
    try:
        text, _, _ = captions(f"http://127.0.0.1:{link.port}/", tmp_path / "mic.wav")
    finally:
        link.close()
    words = text.split()
    assert error_rate([SENTENCE], [" ".join(words)]) <= 0.5 and "sang" in words and "together" in words, text


def test_page_sends_the_hotwords_in_its_box(model_server, tmp_path):
    """A name the LM has never seen, typed into the page's box or given in its address (?hotwords=): the
    captions have it (without it, they do not)."""
    espeak("and they went unto london in the morning", tmp_path / "mic.wav")
    url = f"http://127.0.0.1:{model_server.port}/"
    plain, _, _ = captions(url, tmp_path / "mic.wav")
    typed, _, _ = captions(url, tmp_path / "mic.wav", hotwords="London, Oxford")
    named, _, _ = captions(url + "?hotwords=london,oxford", tmp_path / "mic.wav")
    assert "london" in typed.split() and "oxford" not in typed.split(), typed
    assert "london" not in plain.split() and "london" in named.split() and "oxford" not in named.split(), \
        (plain, named)


def test_page_sends_the_hotword_weight_in_its_box(tiny_server, tmp_path):
    """The weight typed into its box, or given in the address (&hotword_weight=, which fills the box), goes
    into the start message: one out of range is the server's bad_start, shown on the page. (Its effect on
    words is tested through the Recognizer, the stream CLI and /media; here the wiring, without chance.)"""
    espeak(SENTENCE, tmp_path / "mic.wav")
    url = f"http://127.0.0.1:{tiny_server.port}/"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=FLAGS + [f"--use-file-for-fake-audio-capture={tmp_path / 'mic.wav'}%noloop"])
        try:
            statuses = []
            for address, typed in (("?hotwords=london&hotword_weight=50", None), ("?hotwords=london", "25"),
                                   ("?hotwords=london&hotword_weight=50", "10")):
                page = browser.new_page()
                page.goto(url + address)
                if typed is not None:
                    page.fill("#weight", typed)
                page.click("#toggle")
                page.wait_for_function("['listening', 'closed'].includes(document.body.dataset.status) || "
                                       "document.body.dataset.status.startsWith('error')", timeout=20000)
                statuses.append(page.evaluate("document.body.dataset.status"))
                page.close()
        finally:
            browser.close()
    assert statuses == ["error: hotword_weight must be 0..20"] * 2 + ["listening"], statuses


def test_page_shows_the_servers_warning_of_a_muted_microphone(tiny_server, tmp_path):
    """A fake microphone that sends only digital silence (muted): after 3 s the page shows the server's input
    check warning; the stream goes on, and stops cleanly."""
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "muted.wav", np.zeros(16000, np.float32), 16000, subtype="PCM_16")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=FLAGS + [f"--use-file-for-fake-audio-capture={tmp_path / 'muted.wav'}"])
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{tiny_server.port}/")
            page.click("#toggle")
            page.wait_for_function("document.body.dataset.status === 'listening'", timeout=20000)
            page.wait_for_function("document.body.dataset.warnings === 'silent'", timeout=20000)
            shown = page.inner_text("#warning")
            page.click("#toggle")
            page.wait_for_function("document.body.dataset.status === 'closed'", timeout=20000)
            assert page.evaluate("document.body.dataset.warnings") == "silent"
        finally:
            browser.close()
    assert shown.startswith("the stream has sent only digital silence (every sample 0) for 3 s"), shown
