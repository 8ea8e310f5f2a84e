"""Hash-chained audit log: sealing, and detection of modified, deleted, reordered entries."""

import itertools

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from core import audit
from core.models import AuditEntry, User

pytestmark = pytest.mark.django_db


def _write(n: int) -> None:
    actor, _ = User.objects.get_or_create(email="auditor@example.com")
    for i in range(n):
        audit.record(action="wallet.debit", object_type="wallet", object_id=i, actor=actor,
                     data={"amount": 100 + i, "reference": f"order-{i}"})
    audit.seal()


def test_sealing_chains_entries_in_order_with_no_gaps():
    _write(5)
    entries = list(AuditEntry.objects.order_by("chain_seq"))
    assert [e.chain_seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == audit.GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    assert audit.verify().ok


def test_sealing_again_continues_the_chain():
    _write(2)
    _write(2)
    assert list(AuditEntry.objects.values_list("chain_seq", flat=True)) == [1, 2, 3, 4]
    assert audit.verify().ok


def test_entry_of_a_rolled_back_change_never_exists():
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        audit.record(action="draw.performed", object_type="draw", object_id=1)
        raise Boom
    assert audit.seal() == 0
    assert not AuditEntry.objects.exists()


def test_a_modified_entry_is_detected():
    _write(4)
    AuditEntry.objects.filter(chain_seq=2).update(data={"amount": 1, "reference": "order-1"})
    result = audit.verify()
    assert not result.ok
    modified = AuditEntry.objects.get(chain_seq=2)
    assert result.problems == [f"entry 2 (id {modified.id}) was modified"]


def test_a_deleted_entry_is_detected():
    _write(4)
    AuditEntry.objects.filter(chain_seq=3).delete()
    problems = audit.verify().problems
    assert any("3..3 are missing" in p for p in problems)


def test_reordered_entries_are_detected():
    _write(4)
    second, third = AuditEntry.objects.get(chain_seq=2), AuditEntry.objects.get(chain_seq=3)
    # Swap their positions in the chain (and keep everything else as it was).
    AuditEntry.objects.filter(pk=second.pk).update(chain_seq=-1)
    AuditEntry.objects.filter(pk=third.pk).update(chain_seq=2)
    AuditEntry.objects.filter(pk=second.pk).update(chain_seq=3)
    problems = audit.verify().problems
    assert any("does not follow" in p for p in problems)


def test_deleting_the_newest_entries_is_detected_against_a_published_head():
    _write(4)
    published = audit.head()
    assert audit.verify(expected_head=published).ok
    AuditEntry.objects.filter(chain_seq=4).delete()
    assert audit.verify().ok  # the chain alone cannot tell ...
    problems = audit.verify(expected_head=published).problems  # ... the published head can
    assert problems and "newest entries were deleted" in problems[0]


def test_verify_audit_command_passes_then_fails_after_tampering(capsys):
    for i in range(3):
        audit.record(action="prize.claimed", object_type="prize", object_id=i)
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "Sealed 3 pending entries." in out and "Audit chain intact: 3 entries" in out
    AuditEntry.objects.filter(chain_seq=1).update(action="prize.forfeited")
    with pytest.raises(CommandError, match="broken: 1 problem"):
        call_command("verify_audit")


def test_verify_audit_command_rejects_a_malformed_head():
    with pytest.raises(CommandError, match="SEQ:HASH"):
        call_command("verify_audit", expect_head="not-a-head")


def test_audit_entries_are_read_only_in_the_admin(client, staff):
    staff.is_superuser = True
    staff.save()
    _write(1)
    client.force_login(staff)
    entry = AuditEntry.objects.get()
    assert client.get("/admin/core/auditentry/").status_code == 200
    assert client.get("/admin/core/auditentry/add/").status_code == 403
    delete = client.post(f"/admin/core/auditentry/{entry.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert AuditEntry.objects.count() == 1


def test_actor_label_keeps_the_stored_forms(staff):
    assert audit.actor_label(staff, "api") == f"user:{staff.pk}"
    assert audit.actor_label(staff, "import") == f"user:{staff.pk}"
    assert audit.actor_label(staff, "admin") == f"admin:{staff.pk}"
    assert audit.actor_label(None, "scheduler:host:42") == "scheduler:host:42"


def test_an_audit_actor_is_a_user_or_none():
    with pytest.raises(TypeError):
        audit.record(action="wallet.debit", object_type="wallet", object_id=1, actor=7)
