"""Email addresses: the one place that decides when two addresses are the same.

Three forms, each for one purpose:

- ``email_normalize(raw)``: what we store and send to (``User.email``): trimmed,
  Unicode NFKC (a full-width x, U+FF58, is an ``x``), lower-cased.
- ``email_canonical(raw)``: the account's identity (``User.email_canonical``, unique
  in the database): NFKC, case-folded (``ß`` is ``ss``), invisible characters gone.
  Registration, login, waitlist sign-up and email change all compare this form, so
  ``A@x.com``, ``a@X.com`` and ``a@x.com`` with a full-width x are one account.
- ``email_mailbox(raw)``: the mailbox that receives the mail (``User.email_mailbox``):
  the canonical form without a ``+tag`` and, for providers that ignore them, without
  dots in the local part (``j.o.e+x@googlemail.com`` -> ``joe@gmail.com``). Separate
  accounts may share a mailbox (people do use ``+tags``), but the waitlist holds one
  place per mailbox and a mailbox earns its referrer one credit, never its own.

Invisible characters (zero-width spaces and joiners, the soft hyphen, the BOM) are
refused at input (``email_check_visible``): an address that looks like another one
must not be a second account. The canonical forms also drop them, so that data
written around the input checks (a shell, an import) still meets the unique index.
"""

from __future__ import annotations

import unicodedata

# Characters that render as nothing; a client that sends them is copying an address
# from somewhere that hid them, or trying to make a look-alike.
INVISIBLE = frozenset(
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u061c"  # Arabic letter mark
    "\u115f\u1160"  # Hangul fillers
    "\u17b4\u17b5"  # Khmer inherent vowels
    "\u180b\u180c\u180d\u180e"  # Mongolian variation selectors, vowel separator
    "\u200b\u200c\u200d\u200e\u200f"  # zero-width space, non-joiner, joiner; LRM, RLM
    "\u202a\u202b\u202c\u202d\u202e"  # bidi embeddings and overrides
    "\u2060\u2061\u2062\u2063\u2064"  # word joiner, invisible operators
    "\u2066\u2067\u2068\u2069"  # bidi isolates
    "\u3164\uffa0"  # Hangul fillers
    "\ufeff"  # zero-width no-break space (BOM)
)

# Providers whose mailboxes ignore dots in the local part, and their alias domains.
DOTLESS_DOMAINS = frozenset({"gmail.com"})
DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}


def email_has_invisible(raw: str) -> bool:
    return any(char in INVISIBLE for char in raw or "")


def email_check_visible(raw: str) -> None:
    """Raise InvalidEmail when the address carries an invisible character."""
    if email_has_invisible(raw):
        from core.errors import InvalidEmail  # core.models imports this module

        raise InvalidEmail()


def email_normalize(raw: str) -> str:
    """The stored form: trimmed, NFKC, lower-cased (what mail is sent to)."""
    return unicodedata.normalize("NFKC", (raw or "").strip()).lower()


def email_canonical(raw: str) -> str:
    """The identity of an account: NFKC, case-folded, invisible characters removed."""
    text = "".join(char for char in (raw or "") if char not in INVISIBLE)
    # casefold can produce characters NFKC would change again (e.g. "ﬀ" -> "ff" is
    # fine, but some fold to non-normalised sequences): normalise on both sides.
    text = unicodedata.normalize("NFKC", text.strip())
    return unicodedata.normalize("NFKC", text.casefold())


def email_mailbox(raw: str) -> str:
    """The mailbox an address delivers to: no ``+tag``; no dots where the provider
    ignores them; the provider's main domain."""
    canonical = email_canonical(raw)
    local, at, domain = canonical.rpartition("@")
    if not at or not local:
        return canonical
    domain = DOMAIN_ALIASES.get(domain, domain)
    local = local.split("+", 1)[0] or local
    if domain in DOTLESS_DOMAINS:
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def mailbox_digest(mailbox: str) -> str:
    """A short stand-in for a mailbox where one person must count once (the waiting
    room's line) without the address itself: in access tokens (core.authentication)."""
    import hashlib

    return hashlib.blake2b(mailbox.encode(), digest_size=8).hexdigest()


def email_masked(email: str) -> str:
    """"n***@example.com": enough for its owner (or a referrer) to recognise, not a copy
    to harvest."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else email
