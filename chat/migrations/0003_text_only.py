"""Replies are kept as markdown source only: the browser renders them. Tool messages say how
their call ended in `status` and how long it took in `duration_ms`."""

from django.db import migrations, models

TOOL_STOPPED = "Stopped by the user before the tool finished."


def tool_outcomes(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    tools = Message.objects.filter(role="tool")
    tools.filter(error=TOOL_STOPPED).update(status="stopped")
    tools.exclude(error="").exclude(error=TOOL_STOPPED).update(status="error")


class Migration(migrations.Migration):
    dependencies = [("chat", "0002_conversation_system_prompt")]

    operations = [
        migrations.RemoveField(model_name="message", name="html"),
        migrations.AddField(
            model_name="message",
            name="duration_ms",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(tool_outcomes, migrations.RunPython.noop),
    ]
