# One phone, one VERIFIED account: the phone column is no longer unique by itself
# (an unverified phone in a profile must not reveal another account's number).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0006_user_email_canonical_unique"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="phone",
            field=models.CharField(blank=True, db_index=True, max_length=20, null=True),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                condition=models.Q(("phone_verified_at__isnull", False)),
                fields=("phone",),
                name="user_verified_phone_unique",
            ),
        ),
    ]
