"""Make sure someone can log in: on an empty database, create an admin with a random password.

`make run` calls this so a newcomer can log in at once; with any account present it only
says how to add one.
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a first admin account with a random password when there is no account yet."

    def handle(self, *args, **options) -> None:
        users = get_user_model().objects
        if users.exists():
            self.stdout.write(
                "Log in with your account. To add one: .venv/bin/python manage.py createsuperuser"
            )
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser("admin", password=password)
        self.stdout.write(
            self.style.SUCCESS(f"Created the first account. Log in as: admin / {password}")
            + "\n(Shown once. Change it in the admin, or make your own with "
            "`.venv/bin/python manage.py createsuperuser`.)"
        )
