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
    path("c/<int:pk>/export.md", views.export_one, {"kind": "md"}, name="export_md"),
    path("c/<int:pk>/export.json", views.export_one, {"kind": "json"}, name="export_json"),
    path("data/", views.data, name="data"),
    path("data/export.json", views.export_all, name="export_all"),
    path("data/import/", views.import_file, name="import"),
    path("usage/", views.usage, name="usage"),
    path("usage/all/", views.usage_all, name="usage_all"),
    path("usage/all.csv", views.usage_csv, name="usage_csv"),
    path("c/<int:pk>/undo-delete/", views.undo_delete, name="undo_delete"),
    path("c/<int:pk>/pin/", views.pin, name="pin"),
]
