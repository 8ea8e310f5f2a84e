from django.db import migrations, models


class Migration(migrations.Migration):
    """A hold remembers what its seats cost when held, so that a purchase at another total
    needs the buyer's confirmation (price_changed). Nullable: holds made before keep
    working (charged today's prices, as before)."""

    dependencies = [
        ("ticketing", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="seathold",
            name="total",
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
