"""Accounts, auth, phone verification, referral waitlist and public stats."""

urlpatterns: list = []
