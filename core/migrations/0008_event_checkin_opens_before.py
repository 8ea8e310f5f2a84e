from django.db import migrations, models


class Migration(migrations.Migration):
    """Check-in opens a set time before an event starts (default two hours). Existing
    events get the default too; their checkin_code_required stays as it was (an
    organiser's choice, or the old default, is not changed under a running event)."""

    dependencies = [
        ("core", "0007_user_verified_phone_unique"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="checkin_opens_before",
            field=models.PositiveIntegerField(
                default=120, help_text="Check-in opens this many minutes before the event starts."
            ),
        ),
    ]
