"""The admin site as staff see it: model names that read right, no link to a missing page."""

import pytest
from django.apps import apps
from django.test import Client

pytestmark = pytest.mark.django_db

OUR_APPS = ("core", "ticketing", "live")


@pytest.fixture
def browser(superuser_browser):
    return superuser_browser


def test_admin_index_names_entries_and_check_ins_in_english(browser):
    page = browser.get("/admin/").content.decode()
    assert "Entries" in page and "Check-ins" in page
    assert "Entrys" not in page and "Check ins" not in page


def test_no_model_gets_the_default_plural_of_a_word_ending_in_a_consonant_and_y():
    # Django pluralises by adding "s": "entry" -> "entrys". Set verbose_name_plural instead.
    wrong = [m._meta.label for app in OUR_APPS for m in apps.get_app_config(app).get_models()
             if str(m._meta.verbose_name_plural)[-3:-1] not in ("ay", "ey", "oy", "uy")
             and str(m._meta.verbose_name_plural).endswith("ys")]
    assert wrong == []


def test_view_site_link_leads_to_the_landing_page(browser):
    # "/" serves the landing page (core/pages.py); the admin's "View site" links to it.
    assert Client().get("/").status_code == 200
    page = browser.get("/admin/").content.decode()
    assert 'href="/">View site' in page
