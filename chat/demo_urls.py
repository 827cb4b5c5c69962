from django.urls import path

from chat import demo

urlpatterns = [path("v1/chat/completions", demo.chat_completions, name="demo-completions")]
