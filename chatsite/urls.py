from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chat import views as chat_views

urlpatterns = [
    path("accounts/login/", chat_views.LoginView.as_view(), name="login"),
    path("accounts/signup/", chat_views.signup, name="signup"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("demo/", include("chat.demo_urls")),
    path("", include("chat.urls")),
]
