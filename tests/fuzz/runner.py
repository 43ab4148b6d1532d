"""Pair fuzz inputs with CLI commands and run each in a subprocess with a time limit, measuring its peak RSS."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from tests.child_peak import child_argv, child_env, read_peak_mb

from .cases import CATEGORIES, MEMORY_LIMIT_MB, REPO, TIMEOUT_S, Case, Outcome, json_inputs, slide_inputs

#: commands run on every slide input (quick cases run the ones marked quick)
SLIDE_COMMANDS = {"info": ([], True), "score": (["--method", "rules", "--mpp", "0.5"], True),
                  "tissue": ([], False)}


def build_cases(folder: Path, *, slide_variants: int = 8, json_variants: int = 8, seed: int = 0) -> list[Case]:
    """Make the inputs under `folder` and return the cases (every input with its command or commands)."""
    out_dir = folder / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    slides = slide_inputs(folder / "slides", slide_variants, seed)
    core = next(p for name, p, _ in slides if name == "good-png")
    cases: list[Case] = []
    for name, path, quick in slides:
        for cmd, (extra, cmd_quick) in SLIDE_COMMANDS.items():
            argv = [cmd, str(path), *extra]
            if cmd == "score":
                argv += ["--json", str(out_dir / f"{name}.json")]
            cases.append(Case(f"{cmd}:{name}", "slide", path, argv,
                              quick and (cmd_quick or name in ("ifd-loop", "pipe"))))
    js = json_inputs(folder / "json", json_variants, seed)
    for name, path, quick in js["geojson"]:
        cases.append(Case(f"patches:{name}", "geojson", path,
                          ["patches", str(core), "--annotations", str(path), "--slide-mpp", "0.5", "--size", "128",
                           "--out", str(out_dir / f"patches-{name}")], quick))
        if name == "geo-1e999":
            cases.append(Case(f"score-annotations:{name}", "geojson", path,
                              ["score", str(core), "--method", "rules", "--mpp", "0.5", "--annotations", str(path),
                               "--json", str(out_dir / f"{name}.json")], True))
    for name, path, quick in js["result"]:
        cases.append(Case(f"report:{name}", "result", path,
                          ["report", str(core), "--result", str(path), "--out", str(out_dir / f"{name}.pdf")], quick))
    for name, path, quick in js["card"]:
        method = "mil" if "mil_" in name else "pss"
        cases.append(Case(f"score-model:{name}", "card", path,
                          ["score", str(core), "--method", method, "--model", str(path.with_suffix("")),
                           "--mpp", "0.5", "--device", "cpu", "-N", "4", "-k", "2",
                           "--json", str(out_dir / f"{name}.json")], quick))
    for name, path, quick in js["profile"]:
        cases.append(Case(f"score-profile:{name}", "profile", path,
                          ["score", str(core), "--method", "rules", "--mpp", "0.5", "--profile", str(path),
                           "--json", str(out_dir / f"{name}.json")], quick))
    return cases


def _env() -> dict[str, str]:
    env = dict(os.environ)
    code = env.get("HER2_FUZZ_CODE", str(REPO))  # another checkout's code, to compare before / after
    env["PYTHONPATH"] = os.pathsep.join(p for p in (code, env.get("PYTHONPATH", "")) if p)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_case(case: Case, timeout_s: float = TIMEOUT_S) -> Outcome:
    """Run one case as `python -m her2viewer ...`; classify how it ended (see CATEGORIES)."""
    t0 = time.monotonic()
    stem = Path(os.environ.get("TMPDIR", "/tmp")) / f"fuzz-{os.getpid()}-{id(case)}"
    err_path, peak_path = stem.with_suffix(".err"), stem.with_suffix(".peak")
    with open(err_path, "w+b") as err:
        # the child reports its own peak: wait4's ru_maxrss would include this (pytest) process's peak
        proc = subprocess.Popen(child_argv(case.argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, env=child_env(peak_path, _env()), start_new_session=True,
                                cwd=err_path.parent)  # not the checkout, which would come first on sys.path
        timed_out = False
        try:
            proc.wait(timeout=max(0.0, timeout_s - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    err_path.unlink(missing_ok=True)
    peak_mb = read_peak_mb(peak_path) or 0.0
    peak_path.unlink(missing_ok=True)
    return Outcome(case, _classify(case, proc.returncode, stderr, timed_out, peak_mb), proc.returncode,
                   time.monotonic() - t0, peak_mb, stderr)


def _classify(case: Case, rc: int, stderr: str, timed_out: bool, peak_mb: float) -> str:
    if timed_out:
        return "hang"
    if "Traceback" in stderr:
        return "traceback"
    if peak_mb > MEMORY_LIMIT_MB:
        return "memory > 2 GB"
    if rc not in (0, 2, 3):
        return "crash"
    if rc in (0, 3):
        return "ok"
    return "clean error" if case.target.name in stderr else "unnamed error"


def summarise(outcomes: list[Outcome]) -> dict[str, int]:
    """Counts per category (every category listed, zeros included)."""
    counts = Counter(o.category for o in outcomes)
    return {c: counts.get(c, 0) for c in CATEGORIES}
