"""Two "who am I" views, one sync and one async, answering with what realip resolved and what Django now sees."""

from django.http import HttpRequest, JsonResponse
from django.urls import reverse


def answer(request: HttpRequest, view: str) -> dict[str, object]:
    """The resolved client, the walk's outcome, and the request attributes realip rewrote."""
    result = request.realip  # set by realip.django.RealIPMiddleware, like request.client_ip
    scope = getattr(request, "scope", None)  # ASGIRequest only
    return {
        "view": view,
        "client_ip": request.client_ip,
        "client_port": result.client_port,
        "source": result.source,
        "reason": str(result.reason),
        "peer": result.peer,
        "proxies": list(result.proxies),
        "scheme": request.scheme,
        "is_secure": request.is_secure(),
        # The forwarded context (REALIP's HOST_HEADER, PORT_HEADER, PREFIX_HEADER), None when not configured.
        "host": result.host,
        "server_port": result.server_port,
        "prefix": result.prefix,
        # The links Django builds: scheme, host and script prefix, from the proxy's headers when realip believed them.
        "url": request.build_absolute_uri(reverse("whoami")),
        "remote_addr": request.META.get("REMOTE_ADDR"),
        "remote_port": request.META.get("REMOTE_PORT"),
        "orig_remote_addr": request.META.get("realip.orig_remote_addr"),
        # What Django itself put under this key: shows how the server mapped header names.
        "meta_x_forwarded_for": request.META.get("HTTP_X_FORWARDED_FOR"),
        # Under ASGI, the header names as the server delivered them (realip reads these, not META).
        "asgi_header_names": [name.decode("latin-1") for name, _ in scope["headers"]] if scope else None,
    }


def whoami(request: HttpRequest) -> JsonResponse:
    """Sync view."""
    return JsonResponse(answer(request, "sync"))


async def whoami_async(request: HttpRequest) -> JsonResponse:
    """Async view: under an ASGI server the whole chain, realip included, runs on the event loop."""
    return JsonResponse(answer(request, "async"))
