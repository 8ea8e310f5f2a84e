"""What tombola-beacon-v2 adds to performing a draw: the beacon round's BLS check and the
longer HMAC message, against the v1 picks measured in the same run.

    .venv/bin/python bench/beacon_verify.py [--population 1000000] [--picks 100] [--runs 3]

No database: live/beacon.py and live/fairness.py are pure. Figures: median wall time
of (a) v1 picks (seed, digest), the baseline; (b) the same picks with a beacon
randomness; (c) verifying a recorded quicknet round (G1 signature, RFC 9380
hash-to-curve, pairing check with subgroup checks; py-ecc); (d) a recorded round of the
chained default chain (py-ecc G2Basic).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import emit_result, row  # noqa: E402

from live import beacon, fairness  # noqa: E402
from tests.drand_relay import DEFAULT, DEFAULT_ROUNDS, QUICKNET, QUICKNET_ROUNDS  # noqa: E402

CPU: dict[str, float] = {}


def median_seconds(run, runs: int, name: str = "") -> float:
    """Median wall time; the median CPU time of this process goes to CPU[name] (the
    machine is shared: the CPU time says what a draw costs whatever else runs)."""
    times, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    CPU[name] = statistics.median(cpu)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--picks", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    seed, digest = fairness.new_seed(), "ab" * 32
    randomness = QUICKNET_ROUNDS[3].randomness
    v1 = median_seconds(lambda: fairness.pick_indices(seed, digest, args.population, args.picks),
                        args.runs)
    v2 = median_seconds(lambda: fairness.pick_indices(seed, digest, args.population, args.picks,
                                                      randomness), args.runs)
    quicknet = median_seconds(lambda: beacon.verify(QUICKNET, QUICKNET_ROUNDS[3], round_=3),
                              args.runs, "quicknet")
    chained = median_seconds(lambda: beacon.verify(DEFAULT, DEFAULT_ROUNDS[4], round_=4),
                             args.runs, "chained")
    ms = lambda seconds: f"{seconds * 1000:.1f} ms"  # noqa: E731
    for label, value in (("v1 picks (baseline)", v1), ("v2 picks", v2),
                         ("quicknet BLS verify", quicknet), ("default-chain BLS verify", chained)):
        print(f"{label:28} {ms(value)}  ({value / v1:.1f}x the v1 picks)")
    print(f"CPU time: quicknet {ms(CPU['quicknet'])}, default chain {ms(CPU['chained'])}")
    emit_result("beacon_verify", [
        row(f"v2 picks, {args.picks} of {args.population:,}", ms(v2), baseline=ms(v1),
            ratio=f"{v2 / v1:.2f}x"),
        row("quicknet round BLS check (py-ecc)",
            f"{ms(quicknet)} (CPU {ms(CPU['quicknet'])})", baseline=ms(v1),
            ratio=f"{quicknet / v1:.0f}x"),
        row("default-chain round BLS check (py-ecc)",
            f"{ms(chained)} (CPU {ms(CPU['chained'])})", baseline=ms(v1),
            ratio=f"{chained / v1:.0f}x"),
    ], v1=v1, v2=v2, quicknet=quicknet, chained=chained, cpu=CPU, runs=args.runs)


if __name__ == "__main__":
    main()
