"""Annotation autosave is safe: bad values are refused at import, two writers are detected, and a process
killed while saving leaves a valid file that lacks at most the last edit."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from shapely.geometry import box

from her2viewer.annotations.geojson import AnnotationIOError, import_geojson
from her2viewer.annotations.locking import ConcurrentEditError
from her2viewer.annotations.model import Annotation
from her2viewer.annotations.store import AnnotationStore, slide_id
from tests.fuzz.corpus import geojson_cases


def test_non_finite_measurement_is_refused_at_import_and_autosave_keeps_working(tmp_path: Path) -> None:
    text = json.dumps(geojson_cases()["measure-inf"]).replace("Infinity", "1e999")
    src = tmp_path / "qupath.geojson"
    src.write_text(text)
    slide = tmp_path / "s.svs"
    slide.write_bytes(b"x")
    store = AnnotationStore(tmp_path / "proj")
    aset = store.open(slide)
    with pytest.raises(AnnotationIOError) as err:
        import_geojson(src, aset)
    assert str(src) in str(err.value) and "measurements.area" in str(err.value)
    assert len(aset) == 0
    aset.add(Annotation("a", box(0, 0, 5, 5), "Tumor", properties={"measurements": {"x": float("nan")}}))
    aset.add(Annotation("b", box(9, 9, 12, 12), "Tumor"))
    assert store.last_error is None
    again = AnnotationStore(tmp_path / "proj").load(slide_id(slide))
    assert again.ids() == ["a", "b"] and again["a"].properties["measurements"]["x"] is None


def test_two_writers_of_one_slide_are_detected(tmp_path: Path) -> None:
    slide = tmp_path / "s.svs"
    slide.write_bytes(b"x")
    one, two = AnnotationStore(tmp_path / "proj"), AnnotationStore(tmp_path / "proj")
    a, b = one.open(slide), two.open(slide)
    for i in range(3):
        a.add(Annotation(f"a{i}", box(i, 0, i + 1, 1)))
    b.add(Annotation("b0", box(0, 5, 1, 6)))  # autosave: the conflict is recorded, not raised into the edit
    assert isinstance(two.last_error, ConcurrentEditError)
    shared = one.path_for(slide_id(slide))
    assert str(shared) in str(two.last_error)
    copy = Path(two.last_error.conflict_copy)
    assert copy.exists() and copy.name.startswith(shared.name + ".conflict-")
    assert [f["id"] for f in json.loads(copy.read_text())["features"]] == ["b0"]
    assert AnnotationStore(tmp_path / "proj").load(slide_id(slide)).ids() == ["a0", "a1", "a2"]
    b.add(Annotation("b1", box(0, 7, 1, 8)))  # later edits go on to the conflict copy
    assert [f["id"] for f in json.loads(copy.read_text())["features"]] == ["b0", "b1"]
    with pytest.raises(ConcurrentEditError):
        two.save(slide_id(slide), b)


def test_a_direct_save_after_another_writer_raises(tmp_path: Path) -> None:
    one, two = AnnotationStore(tmp_path), AnnotationStore(tmp_path)
    x, y = one.load("sid"), two.load("sid")
    x.add(Annotation("x", box(0, 0, 1, 1)))
    one.save("sid", x)
    y.add(Annotation("y", box(0, 0, 1, 1)))
    with pytest.raises(ConcurrentEditError, match="sid.geojson"):
        two.save("sid", y)


_CHILD = textwrap.dedent("""
    import sys
    from shapely.geometry import box
    from her2viewer.annotations.model import Annotation
    from her2viewer.annotations.store import AnnotationStore
    store = AnnotationStore(sys.argv[1])
    aset = store.load("slide")
    store.attach("slide", aset)
    i = len(aset)
    while True:
        aset.add(Annotation(f"a{i}", box(i, 0, i + 1, 1), "Tumor", properties={"pad": "x" * 20000}))
        if store.last_error is not None:
            raise SystemExit(str(store.last_error))
        i += 1
        print(i, flush=True)
""")


@pytest.mark.parametrize("seed", range(5))
def test_kill_9_while_autosaving_loses_at_most_the_last_edit(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                         os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout is not None
    done = int(proc.stdout.readline())  # the child is editing now
    time.sleep(rng.uniform(0.05, 0.8))
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    lines = [int(x) for x in out.split()]
    done = max([done, *lines])
    path = tmp_path / "annotations" / "slide.geojson"
    saved = json.loads(path.read_text())  # always valid JSON
    n = len(saved["features"])
    assert done <= n <= done + 1, (done, n)
    assert AnnotationStore(tmp_path).load("slide").ids() == [f"a{i}" for i in range(n)]
