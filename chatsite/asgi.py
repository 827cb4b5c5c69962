import codecs
import gc
import importlib
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Set up Django (apps, models) before anything imports the consumers and their models.
django_asgi_app = get_asgi_application()

from channels.auth import CookieMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddleware  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_backends  # noqa: E402
from django.urls import get_resolver  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402

from chat.database import AuthMiddleware  # noqa: E402
from chat.providers import DEMO, PROVIDERS  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from chatsite.origins import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Only pages of this site's own origin (scheme, host and port) may open a socket.
        # Channels' AuthMiddlewareStack, its user read as chat.database reads.
        "websocket": SameOriginValidator(
            CookieMiddleware(SessionMiddleware(AuthMiddleware(URLRouter(websocket_urlpatterns))))
        ),
    }
)


def _import_what_the_first_reply_needs() -> None:
    """Import now what the first socket and reply would otherwise import on the event loop,
    holding it some 50 ms once, for whoever comes first: the URLconf and its views, the
    providers' modules, the session serializer, the login backends, and the codecs of SSE
    and of UTF-16 offsets."""
    get_resolver().url_patterns  # noqa: B018 - imports the URLconf
    for module in (*PROVIDERS.values(), DEMO):
        importlib.import_module(module)
    import_string(settings.SESSION_SERIALIZER)
    get_backends()  # the login backends, which every socket's user is read through
    for codec in ("utf-8-sig", "utf-16-le"):
        codecs.lookup(codec)


_import_what_the_first_reply_needs()

# What is made at startup (Django, the apps, the libraries: some 90,000 objects) lives as long
# as the process. Python's full garbage collection walks every object it tracks, which with
# these took 45 ms with the event loop held, whenever it ran. Frozen, they are never walked
# again, and a full collection costs what the process made since (docs/security.md).
gc.collect()
gc.freeze()
