"""PNG charts for the benchmark write-ups in docs/ (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def _headless() -> None:
    """Select the Agg backend before pyplot is first imported, or say how to get matplotlib."""
    try:
        import matplotlib
    except ImportError as exc:
        raise SystemExit("charts need matplotlib: pip install 'warmline[bench]'") from exc
    matplotlib.use("Agg")


def line_chart(
    path: Path,
    *,
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    title: str,
    x_label: str,
    y_label: str,
) -> Path:
    """One line per series over the shared x values, with a marker at every point."""
    _headless()
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4), dpi=120)
    for name, values in series.items():
        axes.plot(list(x), list(values), marker="o", label=name)
    axes.set_title(title)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def grouped_bars(
    path: Path,
    *,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    y_label: str,
) -> Path:
    """Bars per group (e.g. one per worker), one colour per series (e.g. one per strategy)."""
    _headless()
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(max(6, len(groups) * 0.8), 4), dpi=120)
    width = 0.8 / max(1, len(series))
    for index, (name, values) in enumerate(series.items()):
        positions = [g + index * width for g in range(len(groups))]
        axes.bar(positions, list(values), width=width, label=name)
    axes.set_xticks([g + width * (len(series) - 1) / 2 for g in range(len(groups))])
    axes.set_xticklabels(list(groups), rotation=30, ha="right")
    axes.set_title(title)
    axes.set_ylabel(y_label)
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
