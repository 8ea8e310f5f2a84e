"""Ticketing: seat layouts, inventory, holds, orders, tickets, wallets."""
