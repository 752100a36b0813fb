"""A Django settings module with the tracer and a limiter before realip, and a Layer-4 source without balancers."""

SECRET_KEY = "realip-tests"
DATABASES: dict[str, object] = {}
INSTALLED_APPS = ["realip.django"]
MIDDLEWARE = [
    "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware",
    "axes.middleware.AxesMiddleware",
    "realip.django.RealIPMiddleware",
]
REALIP = {"TRUSTED_PROXIES": ["10.0.0.0/8"], "LAYER4": "proxy-protocol"}
