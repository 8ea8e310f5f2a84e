"""Live REST endpoints, one module per job; live/urls.py imports the module it routes to.

- common.py: paging, input validation, the visible-draw lookup (staff permissions:
  core/permissions.py)
- checkin.py: check-in, screen keys
- draws.py: draws, participate, perform, claim, redraw, notify, proof, result lookup
- lotteries.py: lottery ballots, winning ballots
- mine.py: my entries across events (`/api/accounts/me/entries/`)
- organiser.py: exports, forwarding to the operator
"""
