"""Live writes. One module per job; every service is one transaction.

checkin.py     check-in, venue screen keys, the check-in code on the screens
draws.py       create, edit, enter, close entries, the next daily occurrence
performing.py  perform (winner picking, the announcement), redraw
claims.py      prize claims
webhooks.py    the draw webhooks the services above queue

Callers import from the module that owns the function.
"""
