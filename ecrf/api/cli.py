"""`flask ecrf token create|list|revoke --as EMAIL ...`: personal access tokens for the API from the command line.

The token's secret is printed once, alone on standard output (so `TOKEN=$(flask ecrf token create ...)` keeps only
it); what it is and until when goes to standard error. The audit trail records the token as made by "system" (the
operator of the server, not the account's owner, ran the command).
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ecrf.api.models import ApiToken
from ecrf.api.tokens import MAX_DAYS, create_token, revoke_token, token_of, tokens_named, tokens_of
from ecrf.auth.models import User
from ecrf.auth.services import user_by_email
from ecrf.clock import now_utc
from ecrf.errors import InvalidInput
from ecrf.extensions import db

token_cli = AppGroup("token", help="Personal access tokens for the API: make, list, revoke.")

#: The command's option for each field a service names in its messages.
OPTIONS = {"name": "--name", "days": "--days"}
_AS_HELP = "The account whose token it is: the token acts with its memberships and roles, never more."


def _user(email: str) -> User:
    user = user_by_email(email)
    if user is None:
        raise click.ClickException(f"--as: no account has the email '{email}' (admins make accounts on the Users page)")
    return user


def _refused(error: InvalidInput) -> click.ClickException:
    """A service's refusal, each message under the option it is about."""
    lines = []
    for field, message in error.problems:
        option = OPTIONS.get(field or "")
        lines.append(f"{option}: {message.split(': ', 1)[-1]}" if option else message)
    return click.ClickException("; ".join(lines))


def _when(token: ApiToken, attribute: str) -> str:
    value = getattr(token, attribute)
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "never"


@token_cli.command("create")
@click.option("--as", "email", required=True, metavar="EMAIL", help=_AS_HELP)
@click.option("--name", required=True, help="What will use it, e.g. 'core lab upload'; the audit trail names its writes by it.")
@click.option("--days", required=True, type=int, help=f"How many days it works: 1 to {MAX_DAYS}.")
@click.option("--read-only", is_flag=True, help="It may read, never write.")
def create(email: str, name: str, days: int, read_only: bool) -> None:
    """Make a token and print it, once: it cannot be shown again (only its digest is kept)."""
    user = _user(email)
    try:
        token, secret = create_token(user, name, days, read_only=read_only)
    except InvalidInput as error:
        db.session.rollback()
        raise _refused(error) from None
    db.session.commit()
    click.echo(secret)
    access = "read-only" if token.read_only else "read and write"
    click.echo(
        f"Token '{token.name}' (id {token.id}) of {user.email}: {access}, expires {_when(token, 'expires_at')}. It is shown only this once: store it now.",
        err=True,
    )


@token_cli.command("list")
@click.option("--as", "email", required=True, metavar="EMAIL", help=_AS_HELP)
def list_tokens(email: str) -> None:
    """List the account's tokens, newest first: id, name, first characters, made, expires, last used, access, status."""
    user = _user(email)
    now = now_utc()
    tokens = tokens_of(user)
    if not tokens:
        click.echo(f"{user.email} has no token.")
        return
    for token in tokens:
        click.echo(
            f"{token.id:>6}  {token.name:<24} {token.prefix}…  made {_when(token, 'created_at')}  expires {_when(token, 'expires_at')}  "
            f"last used {_when(token, 'last_used_at')}  {'read-only' if token.read_only else 'read-write'}  {token.status(now).value}"
        )


@token_cli.command("revoke")
@click.option("--as", "email", required=True, metavar="EMAIL", help=_AS_HELP)
@click.option("--name", help="The token's name (one not yet revoked).")
@click.option("--id", "token_id", type=int, help="The token's id (see `flask ecrf token list`), where two share a name.")
def revoke(email: str, name: str | None, token_id: int | None) -> None:
    """End one of the account's tokens for good, chosen by --name or --id."""
    user = _user(email)
    if (name is None) == (token_id is None):
        raise click.ClickException("give the token by --name or by --id (one of the two)")
    if token_id is not None:
        token = token_of(user, token_id)
        if token is None:
            raise click.ClickException(f"--id: {user.email} has no token with id {token_id} (see flask ecrf token list --as {user.email})")
    else:
        assert name is not None
        named = tokens_named(user, name)
        if not named:
            raise click.ClickException(
                f"--name: {user.email} has no token named '{name}' that is not revoked already (see flask ecrf token list --as {user.email})"
            )
        if len(named) > 1:
            ids = ", ".join(str(t.id) for t in named)
            raise click.ClickException(f"--name: {len(named)} tokens of {user.email} are named '{name}' (ids {ids}): choose one with --id")
        token = named[0]
    if token.revoked_at is not None:
        click.echo(f"Token '{token.name}' (id {token.id}) of {user.email} was revoked already, {_when(token, 'revoked_at')}.")
        return
    revoke_token(token)
    db.session.commit()
    click.echo(f"Token '{token.name}' (id {token.id}) of {user.email} is revoked: every request with it is refused from now on.")
