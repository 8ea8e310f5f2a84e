"""What each app holds about a person: its part of the data export (GDPR art. 15)
and of the erasure (art. 17).

core may not read ticketing or live (docs/architecture.md, layering), so each app
registers a ``PersonalDataSection`` in its ``AppConfig.ready()``;
core.services.account_data walks them. A section that keeps rows for money or
audit rules keeps them pointing at the anonymised account: they name an id, never
a name, an email or a phone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.models import User


def _nothing(user: User) -> list:
    return []


@dataclass(frozen=True)
class PersonalDataSection:
    name: str  # the key of this section in the export
    # Everything the app holds about `user`, JSON-ready (core.jsonutil.to_jsonable).
    export: Callable[[User], Any]
    # Audit entries about this user's objects: [(object_type, object_id)].
    audit_objects: Callable[[User], list[tuple[str, str]]] = _nothing
    # Why the account cannot be erased yet: [{"code", "detail", ...}]. Called in the
    # erasure's transaction, with the user row locked.
    blockers: Callable[[User], list[dict]] = _nothing
    # Remove or anonymise, in the erasure's transaction.
    erase: Callable[[User], None] | None = None
    # After the commit (e.g. release live seat holds: their own durable transaction).
    after_erase: Callable[[User], None] | None = None


_SECTIONS: dict[str, PersonalDataSection] = {}


def register_personal_data(section: PersonalDataSection) -> None:
    _SECTIONS[section.name] = section


def personal_data_sections() -> list[PersonalDataSection]:
    return list(_SECTIONS.values())
