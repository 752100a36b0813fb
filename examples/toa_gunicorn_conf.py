"""Gunicorn config for realip_toa: the server hooks that set up the TOA mode chosen by REALIP_LAYER4 (toa:MODE)."""

from realip_toa.gunicorn_hooks import post_worker_init, when_ready

__all__ = ["post_worker_init", "when_ready"]

workers = 2
