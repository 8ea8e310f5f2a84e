"""Ticketing writes. One module per area; every function is one transaction."""
