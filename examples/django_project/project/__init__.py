"""A minimal Django project showing realip: two views (sync and async) that answer with the resolved client."""
