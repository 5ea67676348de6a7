"""The latency plot in docs/benchmarks.md: first-contact p50/p90/p99 against the event rate, from the
figures `bench/latency.py --sweep` wrote to bench/results/latency.json, with the knee (the rate where p99
crosses the 1 s target, interpolated between the two measured rates around it) marked.

python bench/plot.py [--results bench/results/latency.json] [--out docs/benchmarks-latency.png]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import itertools

import matplotlib.pyplot as plt
from matplotlib import ticker

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.0  # seconds: the p99 target


def knee(rows: list[dict[str, float]]) -> float | None:
    """The rate where p99 first crosses TARGET (linear between the measured rates), None if it never does."""
    for below, above in itertools.pairwise(rows):
        if below["p99"] <= TARGET < above["p99"]:
            share = (TARGET - below["p99"]) / (above["p99"] - below["p99"])
            return below["rate"] + share * (above["rate"] - below["rate"])
    if rows and rows[0]["p99"] > TARGET:
        return rows[0]["rate"]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "latency.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-latency.png")
    args = parser.parse_args()

    data = json.loads(args.results.read_text())
    rows = sorted(data["rows"], key=lambda r: r["rate"])
    rates = [r["rate"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for key, style in (("p50", "o-"), ("p90", "s-"), ("p99", "^-")):
        ax.plot(rates, [r[key] * 1000 for r in rows], style, label=f"first contact {key}")
    ax.axhline(TARGET * 1000, color="grey", linestyle="--", linewidth=1, label="target: p99 < 1 s")
    where = knee(rows)
    if where is not None and not math.isnan(where):
        ax.axvline(where, color="crimson", linestyle=":", linewidth=1.5)
        ax.annotate(
            f"knee ≈ {where:.1f} events/s",
            xy=(where, TARGET * 1000),
            xytext=(-170, 60),
            textcoords="offset points",
            color="crimson",
            arrowprops={"arrowstyle": "->", "color": "crimson"},
        )
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("booking conflicts per second (steady, open loop)")
    ax.set_ylabel("POST /events → offer text at Twilio (ms, log scale)")
    ax.set_title(
        f"First contact against load ({data.get('measured', '')}, {rows[0]['duration']:.0f} s per rate)"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    args.out.parent.mkdir(exist_ok=True)
    fig.savefig(args.out)
    print(f"written {args.out}; knee {where if where is not None else 'not reached'}")


if __name__ == "__main__":
    main()
