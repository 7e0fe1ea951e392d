"""Entry point that `flask` finds: the application built by the factory."""

from ecrf import create_app

app = create_app()
