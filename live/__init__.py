"""Live draws: check-ins, draws, prizes, entries, winners, claims, fairness."""
