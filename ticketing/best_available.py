"""Best available seats (seats.io semantics), as a pure function.

Rules, in order of importance:
1. All seats side by side in one row (consecutive numbers); never split.
2. Never leave a single free seat stranded between taken seats (a row end
   counts as taken) when any other choice exists anywhere.
3. Closest to the front (lowest row position, then section position).
4. Within a row, closest to the row's centre, then leftmost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class RowSeat:
    seat_id: int
    number: int
    free: bool


@dataclass(frozen=True)
class SeatRow:
    rank: tuple  # smaller is closer to the front
    seats: list[RowSeat]  # ordered by number


def _runs(seats: list[RowSeat]) -> Iterable[list[RowSeat]]:
    run: list[RowSeat] = []
    for seat in seats:
        adjacent = run and seat.number == run[-1].number + 1
        if seat.free and (adjacent or not run):
            run.append(seat)
            continue
        if run:
            yield run
        run = [seat] if seat.free else []
    if run:
        yield run


def pick_best_available(rows: Iterable[SeatRow], count: int) -> list[int] | None:
    """Seat ids of the best window of `count` adjacent free seats, or None."""
    fallback: list[int] | None = None
    for row in sorted(rows, key=lambda r: r.rank):
        if not row.seats:
            continue
        centre = (row.seats[0].number + row.seats[-1].number) / 2
        candidates = []
        for run in _runs(row.seats):
            for start in range(len(run) - count + 1):
                window = run[start : start + count]
                left, right = start, len(run) - start - count
                strands = left == 1 or right == 1
                off_centre = abs((window[0].number + window[-1].number) / 2 - centre)
                candidates.append((strands, off_centre, window[0].number, window))
        if not candidates:
            continue
        candidates.sort(key=lambda c: c[:3])
        best = candidates[0]
        if not best[0]:
            return [s.seat_id for s in best[3]]
        if fallback is None:
            fallback = [s.seat_id for s in best[3]]
    return fallback
