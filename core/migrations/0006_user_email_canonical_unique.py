# The canonical address is unique (filled by 0005, in its own transaction: PostgreSQL
# does not mix the data migration's updates with these index builds well).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0005_user_email_canonical"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="email_canonical",
            field=models.CharField(editable=False, max_length=254, unique=True),
        ),
        migrations.AlterField(
            model_name="user",
            name="email_mailbox",
            field=models.CharField(db_index=True, editable=False, max_length=254),
        ),
    ]
