# One mailbox, one account: the canonical address (unique) and the mailbox
# (core/emails.py) of every existing account.

from django.db import migrations, models

BATCH = 2000


def fill_email_forms(apps, schema_editor):
    from core.emails import email_canonical, email_mailbox

    User = apps.get_model("core", "User")
    seen: dict[str, int] = {}
    clashes: list[str] = []
    last_id = 0
    while True:
        batch = list(User.objects.filter(id__gt=last_id).order_by("id").only("id", "email")[:BATCH])
        if not batch:
            break
        for user in batch:
            user.email_canonical = email_canonical(user.email)
            user.email_mailbox = email_mailbox(user.email)
            if user.email_canonical in seen:
                clashes.append(f"#{seen[user.email_canonical]} and #{user.id} "
                               f"({user.email_canonical})")
            seen.setdefault(user.email_canonical, user.id)
        User.objects.bulk_update(batch, ["email_canonical", "email_mailbox"])
        last_id = batch[-1].id
    if clashes:
        # Two accounts are one person's (or a look-alike's): an operator decides which
        # stays (merge or rename the other), then migrates again.
        raise RuntimeError(
            "Accounts whose emails are the same address written differently: "
            + "; ".join(clashes[:50]) + ". Rename or merge them, then migrate again."
        )


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0004_stream_outbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_canonical",
            field=models.CharField(editable=False, max_length=254, null=True),
        ),
        migrations.AddField(
            model_name="user",
            name="email_mailbox",
            field=models.CharField(default="", editable=False, max_length=254),
            preserve_default=False,
        ),
        migrations.RunPython(fill_email_forms, migrations.RunPython.noop, elidable=True),
    ]
