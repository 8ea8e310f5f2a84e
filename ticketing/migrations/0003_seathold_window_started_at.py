from django.db import migrations, models


class Migration(migrations.Migration):
    """A hold carries the start of its user's hold window for the event, so that the
    lifetime cap counts per user and event. Nullable: for holds made before, created_at
    is the start."""

    dependencies = [
        ("ticketing", "0002_seathold_total"),
    ]

    operations = [
        migrations.AddField(
            model_name="seathold",
            name="window_started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
