from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("", views.new_conversation, name="new"),
    path("c/", views.conversation_list, name="conversations"),
    path("search/", views.search_conversations, name="search"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path("c/<int:pk>/rename/", views.rename, name="rename"),
    path("c/<int:pk>/delete/", views.delete, name="delete"),
]
