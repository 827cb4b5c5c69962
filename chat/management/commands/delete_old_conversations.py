"""Delete conversations idle for longer than CHAT_RETENTION_DAYS (chat/retention.py).

Run it daily (cron, a systemd timer). `--dry-run` lists what would go and deletes nothing.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chat import retention
from chat.audit import AuditEntry


class Command(BaseCommand):
    help = (
        "Delete conversations whose last activity is older than CHAT_RETENTION_DAYS, with "
        "their messages; their audit entries are kept or deleted as CHAT_RETENTION_AUDIT says."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be deleted; delete nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        days = settings.CHAT_RETENTION_DAYS
        audit = settings.CHAT_RETENTION_AUDIT
        if audit not in retention.AUDIT_CHOICES:
            raise CommandError(f"CHAT_RETENTION_AUDIT must be keep or delete, not {audit!r}.")
        if not days:
            self.stdout.write(
                "CHAT_RETENTION_DAYS is not set: conversations are kept. Nothing deleted."
            )
            return
        old = retention.old_conversations(days)
        if dry_run:
            for conversation in old.select_related("user"):
                self.stdout.write(
                    f"would delete conversation {conversation.pk} of "
                    f"{conversation.user.get_username()}, last active "
                    f"{conversation.updated.isoformat()}"
                )
            entries = AuditEntry.objects.filter(conversation__in=old).count()
            fate = "deleted" if audit == "delete" else "kept"
            self.stdout.write(
                f"Dry run: {old.count()} conversations idle for more than {days} days would be "
                f"deleted; their {entries} audit entries would be {fate}. Nothing deleted."
            )
            return
        deleted = retention.delete_conversations(old, audit)
        self.stdout.write(
            f"Deleted {deleted.conversations} conversations idle for more than {days} days, "
            f"with {deleted.messages} messages and {deleted.audit_entries} audit entries "
            f"(CHAT_RETENTION_AUDIT={audit})."
        )
