from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("", views.new_conversation, name="new"),
    path("c/", views.conversation_list, name="conversations"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path("c/<int:pk>/rename/", views.rename, name="rename"),
    path("c/<int:pk>/delete/", views.delete, name="delete"),
    path("c/<int:pk>/export.md", views.export_one, {"kind": "md"}, name="export_md"),
    path("c/<int:pk>/export.json", views.export_one, {"kind": "json"}, name="export_json"),
    path("data/", views.data, name="data"),
    path("data/export.json", views.export_all, name="export_all"),
    path("data/import/", views.import_file, name="import"),
]
