"""Starting the viewer: the QApplication, the main window, and the headless screenshot mode."""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QSettings

from her2viewer.scoring.base import ScoreOptions
from her2viewer.scoring.result import ScoreResult

from .common.qapp import ensure_app, wait_until
from .main_window import MainWindow
from .viewer.slide_tab import SlideTab

log = logging.getLogger(__name__)


def parse_view(text: str | None) -> tuple[float, float, float, float] | None:
    """'x,y,w,h' in level-0 pixels -> a tuple (None passes through); ValueError with a sentence otherwise."""
    if not text:
        return None
    parts = text.replace(" ", "").split(",")
    try:
        x, y, w, h = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--view must be x,y,w,h in level-0 pixels, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"--view width and height must be positive, got {text!r}")
    return x, y, w, h


def parse_size(text: str | None, default: tuple[int, int] = (1200, 800)) -> tuple[int, int]:
    """'WxH' -> (W, H); ValueError with a sentence otherwise."""
    if not text:
        return default
    try:
        w, h = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must be WIDTHxHEIGHT in pixels, got {text!r}") from None
    if not (16 <= w <= 16384 and 16 <= h <= 16384):
        raise ValueError(f"--size must be between 16 and 16384 pixels a side, got {text!r}")
    return w, h


def take_screenshot(window: MainWindow, path: str, out: str, *, view: tuple | None = None,
                    size: tuple[int, int] = (1200, 800), overlays: Sequence[str] = (),
                    whole_window: bool = False, timeout_s: float = 120.0, score: str | None = None,
                    score_options: ScoreOptions | None = None) -> int:
    """Open `path`, show `view` (level-0 x,y,w,h; default whole slide) at `size`, wait for every tile, save."""
    errors: list[str] = []
    window.sigError.connect(errors.append)
    window.open_paths([path])
    if not wait_until(lambda: errors or window.current_tab() is not None, timeout_s):
        print(f"her2viewer: error: timed out opening {path}", file=sys.stderr)
        return 2
    if errors:
        print(f"her2viewer: error: {errors[0]}", file=sys.stderr)
        return 2
    tab: SlideTab = window.current_tab()
    if whole_window:
        window.resize(*size)
    else:
        tab.view.setFixedSize(*size)
    window.show()
    wait_until(lambda: whole_window or (tab.view.width(), tab.view.height()) == size, 5.0)
    if view is not None:
        tab.view.fit_rect(*view)
    else:
        tab.view.fit()
    for name in overlays:
        window.start_overlay(name)
    ok = wait_until(lambda: errors or (tab.view.is_complete() and window.overlays.running == 0), timeout_s)
    if errors:
        print(f"her2viewer: error: {errors[0]}", file=sys.stderr)
        return 2
    if not ok:
        print(f"her2viewer: error: timed out waiting for the tiles of {path}", file=sys.stderr)
        return 2
    if score and not _score_for_screenshot(window, tab, score, score_options, timeout_s):
        return 2
    image = (window if whole_window else tab.view).grab()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if not image.save(out):
        print(f"her2viewer: error: cannot write {out}", file=sys.stderr)
        return 2
    log.info("saved %s (%dx%d)", out, image.width(), image.height())
    return 0


def take_project_screenshot(window: MainWindow, out: str, size: tuple[int, int] = (1200, 800),
                            timeout_s: float = 120.0) -> int:
    """Save the whole window with its project's case list once every thumbnail is in."""
    window.resize(*size)
    window.show()
    ctl = window.project
    wait_until(lambda: ctl.thumbs.pool.activeThreadCount() == 0 and len(ctl.panel.model.thumbs) >= sum(
        e.status != "missing" for e in ctl.panel.model.entries), timeout_s)
    image = window.grab()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if not image.save(out):
        print(f"her2viewer: error: cannot write {out}", file=sys.stderr)
        return 2
    return 0


def _score_for_screenshot(window: MainWindow, tab: SlideTab, method: str, options: ScoreOptions | None,
                          timeout_s: float) -> bool:
    """Score the open slide from the window and wait for the result and its tiles; False (reported) on error."""
    ctl = window.scoring
    job_id = ctl.run(method=method, options=options or ScoreOptions())
    if job_id is None:
        print(f"her2viewer: error: {ctl.controls.error_text.toPlainText().splitlines()[0]}", file=sys.stderr)
        return False
    kind, payload = ctl.wait_result(job_id, max(timeout_s, 600.0))
    if kind != "finished":
        reason = payload if kind == "failed" else f"scoring was {kind}"
        print(f"her2viewer: error: {reason}", file=sys.stderr)
        return False
    wait_until(lambda: tab.view.is_complete(), timeout_s)
    return True


def scored_mpp(result: ScoreResult) -> float | None:
    """The pixel size a result was scored at (its input checks' value), if it states one."""
    qc = result.qc if isinstance(result.qc, dict) else {}
    mpp = qc.get("mpp")
    return float(mpp) if isinstance(mpp, (int, float)) and 0.05 <= mpp <= 20 else None


def run_snapshot(path: str, out: str, *, view: tuple | None = None, magnification: float | None = None,
                 result: ScoreResult | None = None, overlays: Sequence[str] = (), max_side: int = 1600,
                 mpp: float | None = None, timeout_s: float = 180.0) -> int:
    """Render a slide area offscreen as the viewer shows it (with `result`'s evidence and `overlays`) and save it;
    the exit code (2 with one line naming the file on bad input)."""
    from .scoring.result_layers import install_result_layers
    from .viewer.snapshot import render_snapshot, save_image

    ensure_app(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat))
        window.scoring.project_folder = Path(tmp) / "project"   # write nothing next to the slide
        errors: list[str] = []
        window.sigError.connect(errors.append)
        try:
            window.open_paths([path])
            if not wait_until(lambda: errors or window.current_tab() is not None, timeout_s) or errors:
                print(f"her2viewer: error: {errors[0] if errors else f'timed out opening {path}'}", file=sys.stderr)
                return 2
            tab = window.current_tab()
            if mpp is None and result is not None and not getattr(tab.source, "mpp", None):
                mpp = scored_mpp(result)       # the pixel size the result was scored at (its estimate)
            if mpp is not None:
                window.set_pixel_size(tab, mpp)
            W, H = (int(v) for v in tab.source.dimensions)
            if result is not None:
                install_result_layers(tab.layers, result, (W, H))
            for name in overlays:
                window.start_overlay(name)
            wait_until(lambda: window.overlays.running == 0, timeout_s)
            rect = view or (0.0, 0.0, float(W), float(H))
            if magnification is not None:
                if not tab.view.base_mag:
                    print(f"her2viewer: error: {path} states no pixel size or magnification; give --mpp or "
                          "leave out --magnification", file=sys.stderr)
                    return 2
                ds = tab.view.base_mag / magnification
            else:
                ds = max(rect[2], rect[3]) / max_side
            save_image(render_snapshot(tab, rect, ds, timeout_s), out)
        except (ValueError, TimeoutError, OSError) as e:
            print(f"her2viewer: error: {out}: {e}", file=sys.stderr)
            return 2
        finally:
            window.close()
    log.info("snapshot saved to %s", out)
    return 0


def run_viewer(paths: Sequence[str] = (), *, screenshot: str | None = None, view: tuple | None = None,
               size: tuple[int, int] = (1200, 800), overlays: Sequence[str] = (),
               whole_window: bool = False, score: str | None = None,
               score_options: ScoreOptions | None = None, project: str | None = None) -> int:
    """Run the viewer with `paths` open (and the project folder `project`, created when new); with
    `screenshot`, save one view of the first path (or the window with the project's case list) and exit;
    with `score`, score the slides with that method once they are open."""
    app = ensure_app(sys.argv[:1])
    if screenshot:
        with tempfile.TemporaryDirectory() as tmp:
            settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
            window = MainWindow(settings)
            window.scoring.project_folder = Path(tmp) / "project"   # write nothing next to the slide
            try:
                if project and window.project.open_project(project, create=True) is None:
                    return 2
                if not paths:
                    return take_project_screenshot(window, screenshot, size)
                return take_screenshot(window, paths[0], screenshot, view=view, size=size,
                                       overlays=overlays, whole_window=whole_window or bool(score),
                                       score=score, score_options=score_options)
            finally:
                window.close()
    window = MainWindow()
    window.show()
    if project:
        window.project.open_project(project, create=True)
    window.open_paths(paths)
    if score or overlays:
        def first_open(_tab) -> None:
            if score:
                window.scoring.run(method=score, options=score_options)
            for name in overlays:
                window.start_overlay(name)
        when_opened(window, paths, first_open)
    return app.exec()


def when_opened(window: MainWindow, paths: Sequence[str], fn: Callable[[SlideTab], None]) -> None:
    """Call `fn(tab)` once for each of `paths` when it opens (the command line's --score / --overlays): never
    for slides the user opens later, which get no demo scoring and no TMA grid they did not ask for."""
    waiting = {str(Path(p).expanduser().resolve()) for p in paths}

    def on_opened(tab: SlideTab) -> None:
        key = str(Path(tab.path).expanduser().resolve()) if getattr(tab, "path", "") else ""
        if key in waiting:
            waiting.discard(key)
            fn(tab)
        if not waiting:
            window.sigSlideOpened.disconnect(on_opened)

    if waiting:
        window.sigSlideOpened.connect(on_opened)
