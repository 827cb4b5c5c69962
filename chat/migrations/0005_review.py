"""Reading conversations in the admin becomes a permission of its own, held by the group
"Conversation reviewers"; every staff read is written to the audit log (chat/audit.py)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


GROUP = "Conversation reviewers"
PERMISSIONS = [
    ("conversation", "review_conversation", "Can read conversations in the admin"),
    ("conversation", "view_conversation", "Can view conversation"),
    ("message", "view_message", "Can view message"),
]


def reviewers_group(apps, schema_editor) -> None:
    """The group, holding the review and the admin's view of both models. Permissions are
    made here, not left to post_migrate, which runs only after every migration; post_migrate
    finds them and leaves them be. Safe to run again."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=GROUP)
    for model, codename, name in PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label="chat", model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


def no_group(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0004_usage"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="conversation",
            options={
                "ordering": ["-updated", "-id"],
                "permissions": [("review_conversation", "Can read conversations in the admin")],
            },
        ),
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ("reviewer_name", models.CharField(db_index=True, max_length=150)),
                (
                    "page",
                    models.CharField(
                        choices=[
                            ("conversation", "conversation page"),
                            ("message", "message page"),
                            ("conversation list", "conversation list"),
                            ("message list", "message list"),
                            ("conversation history", "conversation history"),
                            ("conversation delete", "conversation delete"),
                        ],
                        max_length=32,
                    ),
                ),
                (
                    "conversation_pk",
                    models.BigIntegerField(db_index=True, verbose_name="conversation id"),
                ),
                ("conversation_title", models.CharField(blank=True, max_length=200)),
                (
                    "message_pk",
                    models.BigIntegerField(blank=True, null=True, verbose_name="message id"),
                ),
                ("reason", models.TextField(blank=True)),
                ("query", models.CharField(blank=True, max_length=500, verbose_name="search")),
                ("path", models.TextField(blank=True)),
                (
                    "conversation",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="audit_entries",
                        to="chat.conversation",
                    ),
                ),
                (
                    "message",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="chat.message",
                    ),
                ),
                (
                    "reviewer",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "audit entry",
                "verbose_name_plural": "audit log",
                "ordering": ["-at", "-id"],
                "default_permissions": (),
            },
        ),
        migrations.RunPython(reviewers_group, no_group),
    ]
