import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Set up Django (apps, models) before anything imports the consumers and their models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from chatsite.origins import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Only pages of this site's own origin (scheme, host and port) may open a socket.
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# What is made at startup (Django, the apps, the libraries: some 90,000 objects) lives as long
# as the process. Python's full garbage collection walks every object it tracks, which with
# these took 45 ms with the event loop held, whenever it ran. Frozen, they are never walked
# again, and a full collection costs what the process made since (docs/security.md).
gc.collect()
gc.freeze()
