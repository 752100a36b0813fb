"""``/`` (sync view) and ``/async`` (async view)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.whoami, name="whoami"),
    path("async", views.whoami_async, name="whoami-async"),
]
