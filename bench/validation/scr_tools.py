"""SCR peaks from established EDA tools, each asked for responses of at least the same size.

Every tool keeps its own decomposition, onset and peak definitions; only the smallest response
counted is made the same for all, MIN_AMPLITUDE_US measured as each tool measures amplitude, so
that the tools disagree about where responses are, not about how small a response may be
(docs/validation.md says what each one counts). The tools are optional (`vagus[validation]`);
a tool that cannot be imported is reported as missing, never replaced.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings
from collections.abc import Callable
from importlib import metadata

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ToolRun = Callable[[FloatArray, float], IntArray]

#: 0.05 µS: the usual minimum SCR amplitude for ambulatory and lower-resolution recordings
#: (Boucsein 2012; Braithwaite et al. 2013 give 0.01-0.05 µS); our detector's floor too.
MIN_AMPLITUDE_US = 0.05


def _quiet() -> contextlib.ExitStack:
    """Silence a tool's warnings and prints (BioSPPy prints its filter errors)."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    return stack


def _trough_to_peak(x: FloatArray, floor: float) -> IntArray:
    """Local maxima of x whose rise from the nearest local minimum before them is >= floor."""
    d = np.diff(x)
    peaks = np.flatnonzero((d[:-1] > 0) & (d[1:] <= 0)) + 1
    troughs = np.flatnonzero((d[:-1] <= 0) & (d[1:] > 0)) + 1
    before = np.searchsorted(troughs, peaks) - 1
    ok = before >= 0
    peaks, onsets = peaks[ok], troughs[before[ok]]
    out: IntArray = peaks[x[peaks] - x[onsets] >= floor].astype(np.int64)
    return out


def neurokit2_peaks(eda: FloatArray, fs: float) -> IntArray:
    """NeuroKit2: eda_clean, eda_phasic (0.05 Hz high-pass), eda_peaks("neurokit") with its
    relative threshold off; kept when SCR_Amplitude (phasic peak - onset) >= the floor."""
    import neurokit2 as nk  # noqa: PLC0415 - optional and slow to import

    with _quiet():
        clean = np.asarray(nk.eda_clean(eda, sampling_rate=int(fs)), dtype=float)
        phasic = nk.eda_phasic(clean, sampling_rate=int(fs))["EDA_Phasic"].to_numpy()
        _, info = nk.eda_peaks(phasic, sampling_rate=int(fs), amplitude_min=0.0)
    peaks = np.asarray(info["SCR_Peaks"], dtype=np.int64)
    amplitude = np.asarray(info["SCR_Amplitude"], dtype=float)
    out: IntArray = peaks[np.nan_to_num(amplitude, nan=0.0) >= MIN_AMPLITUDE_US]
    return out


def biosppy_peaks(eda: FloatArray, fs: float) -> IntArray:
    """BioSPPy: eda_events(method="emotiphai"): 2 Hz low-pass (skipped at 4 Hz, where 2 Hz is
    Nyquist), 1 s boxzen smoother, every local maximum after a local minimum that rises more
    than min_amplitude above it."""
    from biosppy.signals import eda as bsp_eda  # noqa: PLC0415 - optional

    with _quiet():
        try:
            found = bsp_eda.eda_events(
                signal=eda, sampling_rate=fs, method="emotiphai", min_amplitude=MIN_AMPLITUDE_US
            )
        except ValueError:  # "Could not find SCR pulses": none at this size
            return np.zeros(0, np.int64)
    return np.unique(np.asarray(found["peaks"], dtype=np.int64))


def ledapy_peaks(eda: FloatArray, fs: float) -> IntArray:
    """Ledapy (Ledalab's continuous decomposition analysis): peaks of the SCRs reconvolved from
    the phasic driver's impulses, kept when their reconvolved amplitude >= the floor."""
    import ledapy  # noqa: PLC0415 - optional
    from ledapy import leda2  # noqa: PLC0415

    with _quiet():
        ledapy.runner.getResult(eda, "phasicdata", fs, downsample=1, optimisation=0)
    analysis = leda2.analysis
    amplitude = np.asarray(analysis.amp, dtype=float)
    peak_s = np.asarray(analysis.peakTime, dtype=float)[amplitude >= MIN_AMPLITUDE_US]
    peaks = np.round(peak_s * fs).astype(np.int64)
    return np.unique(peaks[(peaks >= 0) & (peaks < eda.size)])


def cvxeda_peaks(eda: FloatArray, fs: float) -> IntArray:
    """cvxEDA (Greco et al. 2016) on the z-scored signal with its defaults; its phasic component
    back in µS, responses are its local maxima rising >= the floor from the minimum before."""
    import cvxeda  # noqa: PLC0415 - optional

    mean, sd = float(eda.mean()), float(eda.std())
    with _quiet():
        fit = cvxeda.cvxEDA((eda - mean) / sd, 1.0 / fs, options={"show_progress": False})
        phasic = next(iter(fit))  # r, p, t, l, d, e, obj: r is the phasic component
    return _trough_to_peak(np.asarray(phasic, dtype=float).ravel() * sd, MIN_AMPLITUDE_US)


#: name -> (distribution, module the runner imports, runner)
TOOLS: dict[str, tuple[str, str, ToolRun]] = {
    "neurokit2": ("neurokit2", "neurokit2", neurokit2_peaks),
    "biosppy": ("biosppy", "biosppy.signals.eda", biosppy_peaks),
    "ledapy": ("ledapy", "ledapy", ledapy_peaks),
    "cvxeda": ("cvxeda", "cvxeda", cvxeda_peaks),
}


def tool_version(name: str) -> str | None:
    """Installed version of a tool, None when it is not installed or cannot be imported
    (BioSPPy imports peakutils without declaring it, for one)."""
    distribution, module, _ = TOOLS[name]
    try:
        version = metadata.version(distribution)
        with _quiet():
            importlib.import_module(module)
    except (metadata.PackageNotFoundError, ImportError):
        return None
    return version
