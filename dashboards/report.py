"""One local HTML report of a sweep, plus pointers to the live dashboards.

``python -m dashboards.report --results DIR [--sweep FOLDER ...] [--out DIR] [--open]`` runs
:func:`dashboards.tables.generate` (tables and plots), writes ``<out>/report.html`` with the
tables inline and the plots linked relatively, and prints where to look while a sweep runs:

- the Ray dashboard, when a Ray cluster answers on its address (default 127.0.0.1:8265);
- the TensorBoard command over the experiment folders;
- the W&B runs: offline run folders with their ``wandb sync`` command, or online run URLs.
"""

from __future__ import annotations

import argparse
import datetime
import html
import os
import re
import shlex
import sys
import urllib.error
import urllib.request
import webbrowser
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dashboards import tables as tables_mod
from dashboards.formats import DESCRIPTIONS, LEGEND, TITLES
from dashboards.load import NoExperimentsError
from dashboards.tables import Generated
from sweeps.ray_setup import dashboard_url, token_hint
from sweeps.storage import Location

RAY_DASHBOARD = dashboard_url()
_WANDB_URL = re.compile(r"https://[\w.-]*wandb\.(?:ai|com)/[^\s\"']+/runs/[\w-]+")


# ---------------------------------------------------------------- live dashboards


def ray_dashboard(url: str = RAY_DASHBOARD, timeout: float = 0.5) -> str | None:
    """The Ray dashboard address if a Ray cluster's dashboard answers there, else None."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/version", timeout=timeout) as reply:
            return url if reply.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def tensorboard_command(experiments: list[Location]) -> str:
    """``tensorboard --logdir ...`` over the experiment folders (their common parent if several; TensorBoard
    reads s3:// and gs:// URIs too)."""
    if not experiments:
        return "tensorboard --logdir results"
    paths = [str(Location.of(p)) for p in experiments]
    logdir = paths[0] if len(paths) == 1 else os.path.commonpath(paths).replace(":/", "://", 1)
    return f"tensorboard --logdir {shlex.quote(logdir)}"


@dataclass
class WandbRun:
    path: Path
    offline: bool
    url: str | None = None


def wandb_runs(experiments: list[Location]) -> list[WandbRun]:
    """W&B run folders under ``<exp>/wandb/`` (and trial folders' ``wandb/``) of local experiment folders
    (W&B's offline runs are written where the driver runs, never to a URI)."""
    runs = []
    for exp in (Location.of(e).local for e in experiments):
        for pattern in ("wandb/*run-*", "*/wandb/*run-*") if exp else ():
            for run_dir in sorted(exp.glob(pattern)):
                if run_dir.is_dir() and not run_dir.is_symlink():
                    offline = run_dir.name.startswith("offline-run-")
                    runs.append(WandbRun(run_dir, offline, None if offline else _run_url(run_dir)))
    return runs


def _run_url(run_dir: Path) -> str | None:
    """The run's URL as W&B logged it (its log files mention "View run at <url>")."""
    for log in sorted(run_dir.glob("**/*.log")):
        match = _WANDB_URL.search(log.read_text(errors="replace"))
        if match:
            return match.group(0)
    return None


def wandb_sync_command(runs: list[WandbRun]) -> str | None:
    offline = [shlex.quote(str(r.path)) for r in runs if r.offline]
    return f"wandb sync {' '.join(offline)}" if offline else None


@dataclass
class Pointers:
    """Where the live views of the experiments are."""

    ray: str | None
    tensorboard: str
    wandb: list[WandbRun] = field(default_factory=list)

    @classmethod
    def find(cls, experiments: list[Location]) -> Pointers:
        return cls(ray_dashboard(), tensorboard_command(experiments), wandb_runs(experiments))

    def lines(self) -> list[str]:
        """The pointers as plain text lines (printed by the CLI)."""
        out = [f"Ray dashboard: {self.ray}{token_hint()}" if self.ray else
               f"Ray dashboard: no Ray cluster answering at {RAY_DASHBOARD}",
               f"TensorBoard: {self.tensorboard}"]
        if not self.wandb:
            out.append("W&B: no runs under the experiment folders")
        for run in self.wandb:
            out.append(f"W&B run: {run.url or run.path}" + (" (offline)" if run.offline else ""))
        sync = wandb_sync_command(self.wandb)
        if sync:
            out.append(f"W&B sync: {sync}")
        return out


# ---------------------------------------------------------------- HTML

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1400px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; }
th { background: #f3f3f3; }
.legend, .note { color: #555; font-size: 0.85em; max-width: 70em; }
figure { display: inline-block; margin: 0.5em; }
img { max-width: 640px; border: 1px solid #eee; }
code { background: #f6f6f6; padding: 0.1em 0.3em; }
"""

# Marks every image with whether it decoded (read by tests in headless Chromium).
_IMG_CHECK = """
window.addEventListener('load', function () {
  document.querySelectorAll('img').forEach(function (img) {
    img.dataset.loaded = (img.complete && img.naturalWidth > 0) ? 'yes' : 'no';
  });
  document.body.dataset.ready = 'yes';
});
"""


def _experiments_html(gen: Generated) -> str:
    exps = gen.results.experiments
    if exps.empty:
        return "<p class='note'>No experiment folders (with sweep.json) found.</p>"
    trials = gen.results.trials
    rows = []
    for _, e in exps.iterrows():
        t = trials[trials["experiment"] == e["experiment"]]
        status = ", ".join(f"{k}: {v}" for k, v in t["status"].value_counts().items()) or "none"
        rows.append({"Experiment": e["experiment"], "Task": e["task"], "Suite": e["suite"],
                     "Mode": e["mode"], "Budget": e["budget"], "Train steps": e["train_steps"],
                     "Trials": len(t), "Status": status, "Created": e["created"],
                     "Folder": e["path"]})
    return pd.DataFrame(rows).to_html(index=False, table_id="experiments", border=0)


def _pointers_html(p: Pointers) -> str:
    items = [f"<li>Ray dashboard: <a href='{html.escape(p.ray)}'>{html.escape(p.ray)}</a>"
             f"{html.escape(token_hint())}</li>"
             if p.ray else f"<li>Ray dashboard: no Ray cluster answering at "
             f"{html.escape(RAY_DASHBOARD)} (start one, or the sweep has ended)</li>",
             f"<li>TensorBoard: <code>{html.escape(p.tensorboard)}</code></li>"]
    for run in p.wandb:
        target = (f"<a href='{html.escape(run.url)}'>{html.escape(run.url)}</a>" if run.url
                  else f"<code>{html.escape(str(run.path))}</code>")
        items.append(f"<li>W&amp;B run{' (offline)' if run.offline else ''}: {target}</li>")
    if not p.wandb:
        items.append("<li>W&amp;B: no runs under the experiment folders</li>")
    sync = wandb_sync_command(p.wandb)
    if sync:
        items.append(f"<li>Upload offline runs: <code>{html.escape(sync)}</code></li>")
    return "<ul id='live'>" + "".join(items) + "</ul>"


def _table_html(gen: Generated, name: str) -> str:
    shown = gen.tables.display[name]
    links = " · ".join(f"<a href='{name}.{ext}'>{ext}</a>" for ext in ("md", "csv", "tex"))
    body = (shown.to_html(index=False, table_id=name, border=0) if len(shown)
            else f"<p id='{name}' class='note'>No trials for this table yet.</p>")
    return (f"<h2>{html.escape(TITLES[name])}</h2>"
            f"<p class='note'>{html.escape(DESCRIPTIONS[name])}</p>"
            f"{body}<p class='note'>Files: {links}</p>")


def _plots_html(gen: Generated) -> str:
    figures = []
    for path in gen.plots:
        rel = os.path.relpath(path, gen.out)
        figures.append(f"<figure><img src='{html.escape(rel)}' alt='{html.escape(path.stem)}'>"
                       f"<figcaption>{html.escape(path.stem)}</figcaption></figure>")
    return "<h2>Plots</h2>" + ("".join(figures) or "<p class='note'>No plots yet.</p>")


def render_html(gen: Generated, pointers: Pointers) -> str:
    """The whole report as one HTML page (plots linked relative to ``gen.out``)."""
    now = datetime.datetime.now().isoformat(timespec="seconds")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>svglab report</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>svglab report</h1><p class='note'>Generated {now} from Ray Tune outputs. "
        "'Ours' are our runs; 'paper' and 'POPLIN (reported)' are published numbers.</p>"
        f"<h2>Experiments</h2>{_experiments_html(gen)}"
        f"<h2>Live dashboards</h2>{_pointers_html(pointers)}"
        f"{''.join(_table_html(gen, name) for name in TITLES)}"
        f"<p class='legend'>{html.escape(LEGEND)}</p>"
        f"{_plots_html(gen)}<script>{_IMG_CHECK}</script></body></html>"
    )


def write_report(gen: Generated, pointers: Pointers) -> Path:
    path = gen.out / "report.html"
    path.write_text(render_html(gen, pointers), encoding="utf-8")
    return path


def has_display() -> bool:
    """A graphical session to open a browser in (never a terminal browser that would block)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_in_browser(path: Path) -> bool:
    """Try to open the report in a browser; False when there is none (e.g. headless)."""
    if not has_display():
        return False
    try:
        return bool(webbrowser.open(path.resolve().as_uri()))
    except webbrowser.Error:
        return False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = tables_mod.common_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--open", action="store_true", help="open the report in a browser")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        gen = tables_mod.generate(args.results, args.sweep, args.out, use_wandb=not args.no_wandb,
                                  score=args.score, curves=args.curves)
    except NoExperimentsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    pointers = Pointers.find(gen.experiments)
    path = write_report(gen, pointers)
    for line in pointers.lines():
        print(line)
    if gen.wandb_url:
        print(f"W&B tables: {gen.wandb_url}")
    print(f"Report: {path.resolve()}")
    if args.open and not open_in_browser(path):
        print("(no browser available here: open the path above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
