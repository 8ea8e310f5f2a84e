from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for the quick start and benchmarks (manage.py seed_demo).

    An app of its own, above core, ticketing and live: it writes through all of
    their services, and core (the ground floor) must not import the apps above it.
    """

    name = "demo"
    verbose_name = "Demo data"
