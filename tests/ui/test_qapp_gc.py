"""The application collects Python garbage in the GUI thread only (a collection in a worker thread destroyed
widgets there and deadlocked against the GUI thread)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_application_collects_garbage_on_a_timer_in_the_gui_thread():
    # a fresh interpreter: the test session's own QApplication is pytest-qt's
    script = textwrap.dedent("""
        import gc, threading
        from her2viewer.ui.common.qapp import ensure_app, wait_until
        app = ensure_app()
        assert not gc.isenabled(), "automatic collection is still on"
        where = []

        class Cycle:
            def __del__(self):
                where.append(threading.current_thread() is threading.main_thread())

        def make_garbage():
            for _ in range(2000):          # past gen 0's threshold, in a worker thread
                a, b = Cycle(), Cycle()
                a.other, b.other = b, a

        t = threading.Thread(target=make_garbage)
        t.start(); t.join()
        assert not where, "collected before the timer"
        assert wait_until(lambda: len(where) >= 4000, 10.0), len(where)
        assert all(where), "collected outside the GUI thread"
        print("ok")
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
