"""One progress facility for every long phase: tqdm's (tqdm.auto: a widget in a notebook, a line on a
terminal), used by the CLI and by ``lmm(..., progress=True)``, ``glmm``, ``bootstrap`` and the summary's
df.

    rep = Progress.of(progress)        # True: show; None: show when interactive; False: never; a callable
    with rep.phase("building the model matrices"): ...
    model.fit(progress=rep)            # one call per evaluation: (n_evals, best criterion)
    for i in rep.steps("bootstrap", nsim): ...
    rep.close()

A counted display appears only after `delay` seconds (tqdm's delay), so a fit that takes less shows nothing;
named phases show at once, so only with progress=True and in the CLI;
on a stream that is not a terminal, outside a notebook, None means silent.  A callable given as
progress= is called per evaluation, as before.  Tests: tests/test_progress.py, tests/test_cli.py.
"""
from __future__ import annotations

import contextlib
import sys

from .errors import FastmmeError

DELAY = 0.5          # seconds before a display appears


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def interactive(stream) -> bool:
    """A terminal or a Jupyter kernel."""
    return _in_notebook() or bool(getattr(stream, "isatty", lambda: False)())


class Progress:
    """Live progress of fits, phases and loops (see the module's docstring)."""

    def __init__(self, enabled=None, stream=None, callback=None, delay: float = DELAY, interval: float = 0.1,
                 phases=None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = interactive(self.stream) if enabled is None else bool(enabled)
        # named phases show at once, so only when asked for (progress=True, the CLI): an interactive
        # default shows the counted displays alone, after `delay`
        self.phases = self.enabled and (enabled is not None if phases is None else bool(phases))
        self.callback = callback
        self.delay = delay
        self.interval = interval            # tqdm's mininterval: at most one redraw in this many seconds
        self._bar = None
        self._base = self._last = 0

    @classmethod
    def of(cls, progress) -> "Progress":
        if isinstance(progress, Progress):
            return progress
        if progress is None:
            return cls()
        if progress is True or progress is False:
            return cls(enabled=progress)
        if callable(progress):
            return cls(enabled=False, callback=progress)
        raise FastmmeError(f"progress must be True, False, None (a display when interactive) or a callable(n_evals, "
                           f"criterion); got {progress!r}")

    def _tqdm(self, delay=None, **kw):
        from tqdm.auto import tqdm
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        return tqdm(file=self.stream, delay=self.delay if delay is None else delay, leave=False, dynamic_ncols=tty,
                    mininterval=self.interval, **kw)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __call__(self, n_evals: int, best: float) -> None:
        """One evaluation of the optimiser."""
        if self.callback is not None:
            self.callback(n_evals, best)
        if not self.enabled:
            return
        if self._bar is None or self._bar.desc != "fitting":
            self._close_bar()
            self._bar = self._tqdm(desc="fitting", unit=" evaluations", total=None)
            self._base = self._last = 0
        if n_evals < self._last:                 # a new stage counts from 1 again (glmm's two stages)
            self._base += self._last
        self._last = n_evals
        self._bar.set_postfix_str(f"criterion {best:.6f}", refresh=False)
        self._bar.update(self._base + n_evals - self._bar.n)

    @contextlib.contextmanager
    def phase(self, text: str):
        """A phase without a count (reading the data, assembly, the df): its name and elapsed time."""
        if not self.phases:
            yield
            return
        self._close_bar()
        bar = self._tqdm(desc=text, total=None, bar_format="{desc} … {elapsed}", delay=0)
        try:
            yield
        finally:
            bar.close()

    def note(self, text: str) -> None:
        """A phase that ends with the next display (the CLI's reading of the file, the df)."""
        if not self.phases:
            return
        self._close_bar()
        self._bar = self._tqdm(desc=text, total=None, bar_format="{desc} … {elapsed}", delay=0)

    def steps(self, text: str, total: int, unit: str = " refits"):
        """range(total) with a bar (the bootstrap's replicates, the profiles' parameters)."""
        if not self.enabled:
            return range(total)
        self._close_bar()
        return self._tqdm(iterable=range(total), desc=text, total=total, unit=unit)

    def close(self) -> None:
        self._close_bar()

    done = close
