from core.settings import *  # noqa: F403
from core.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.ws_e2e"]
ROOT_URLCONF = "tests.ws_e2e.urls"
