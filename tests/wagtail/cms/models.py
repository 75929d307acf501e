"""Two page models of the Wagtail test site."""

from __future__ import annotations

from django.db import models
from wagtail.models import Page


class BlogPage(Page):
    intro = models.CharField(max_length=200, blank=True)
    template = "cms/page.html"


class EventPage(Page):
    venue = models.CharField(max_length=200, blank=True)
    template = "cms/page.html"
