"""The slide opener never wedges: a file that never opens is reported after the time limit while other
slides still open, a source that arrives too late is closed, and nothing keeps the process alive."""

from __future__ import annotations

import subprocess
import sys
import threading

import her2viewer.slide.open as slide_open
from her2viewer.slide import ArraySlide
from her2viewer.ui.viewer.opener import SlideOpener

from .conftest import textured_image


def test_a_stuck_file_times_out_and_others_still_open(qtbot, monkeypatch, tmp_path):
    release = threading.Event()
    late = ArraySlide(textured_image(64, 64), mpp=0.5, name="late")
    closed = []
    late.close = lambda: closed.append(True)           # type: ignore[method-assign]
    real_open = slide_open.open_slide

    def fake_open(path, *a, **k):
        if path.endswith("stuck.svs"):
            release.wait(30)
            return late
        return real_open(path, *a, **k)

    monkeypatch.setattr(slide_open, "open_slide", fake_open)
    good = tmp_path / "good.png"
    import cv2
    cv2.imwrite(str(good), textured_image(300, 200))
    opener = SlideOpener(time_limit_s=0.5)
    opened, failed = [], []
    opener.sigOpened.connect(lambda p, s: opened.append(p))
    opener.sigFailed.connect(lambda p, m: failed.append((p, m)))
    opener.open(str(tmp_path / "stuck.svs"))
    opener.open(str(good))
    qtbot.waitUntil(lambda: bool(opened and failed), timeout=10_000)
    assert opened == [str(good)]
    assert "stuck.svs" in failed[0][1] and "did not open within" in failed[0][1]
    release.set()                                      # it arrives after all: closed, never shown
    qtbot.waitUntil(lambda: bool(closed), timeout=10_000)
    assert opened == [str(good)] and opener.pending == 0


def test_a_named_pipe_does_not_keep_the_viewer_from_exiting(tmp_path):
    import os

    fifo = tmp_path / "x.svs"
    os.mkfifo(fifo)
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM']='offscreen'\n"
        "from her2viewer.ui.app import ensure_app, wait_until\n"
        "from her2viewer.ui.viewer.opener import SlideOpener\n"
        "app = ensure_app(); o = SlideOpener(time_limit_s=1.0); msgs = []\n"
        "o.sigFailed.connect(lambda p, m: msgs.append(m)); o.open(sys.argv[1])\n"
        "wait_until(lambda: msgs, 20); print(msgs[0]); o.close()\n"
    )
    res = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "x.svs" in res.stdout
