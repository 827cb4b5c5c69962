"""Messages form a tree: each has a parent, and the conversation remembers the leaf of the
branch it shows. What exists already becomes one branch: each message follows the one
written before it in its conversation, and the last one is shown."""

import django.db.models.deletion
from django.db import migrations, models


def one_branch(apps, schema_editor):
    Conversation = apps.get_model("chat", "Conversation")
    Message = apps.get_model("chat", "Message")
    for conversation in Conversation.objects.only("pk").iterator(chunk_size=500):
        ids = list(
            Message.objects.filter(conversation=conversation)
            .order_by("created", "id")
            .values_list("id", flat=True)
        )
        changed = [Message(pk=pk, parent_id=before) for before, pk in zip(ids, ids[1:])]
        Message.objects.bulk_update(changed, ["parent"], batch_size=500)
        if ids:
            Conversation.objects.filter(pk=conversation.pk).update(current_id=ids[-1])


class Migration(migrations.Migration):
    dependencies = [("chat", "0007_search")]

    operations = [
        migrations.AddField(
            model_name="message",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="children",
                to="chat.message",
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="current",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="chat.message",
            ),
        ),
        migrations.RunPython(one_branch, migrations.RunPython.noop),
    ]
