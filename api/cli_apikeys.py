"""`gazetteer apikeys …`: API keys of address-lookup callers.

A revoke takes effect in a running service within 30 s (it caches key lookups that long).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli_support import one_line_errors, unit
from data import apikeys
from data.audit import SYSTEM

apikeys_app = typer.Typer(help="API keys, daily quotas and rates of address-lookup callers.",
                          no_args_is_help=True)
console = Console(stderr=True)
AsUser = Annotated[str, typer.Option("--as", help="who is recorded in the audit log")]


def _when(value) -> str:
    return value.astimezone(apikeys.SHANGHAI).strftime("%Y-%m-%d %H:%M") if value else ""


@apikeys_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="who the key is for, e.g. 杭州市规划局 GIS")],
    daily_quota: Annotated[int | None, typer.Option(help="default: GAZETTEER_KEY_DAILY_QUOTA")] = None,
    per_second: Annotated[int | None, typer.Option(help="default: GAZETTEER_KEY_PER_SECOND")] = None,
    as_user: AsUser = SYSTEM,
) -> None:
    """Create a key and print it once (only its hash is kept)."""
    from data.settings import get_settings

    settings = get_settings()
    with one_line_errors(console), unit() as conn:
        key, plain = apikeys.create_key(
            conn, name=name, actor=as_user,
            daily_quota=settings.key_daily_quota if daily_quota is None else daily_quota,
            per_second=settings.key_per_second if per_second is None else per_second)
    table = Table("name", "prefix", "daily quota", "per second", title=f"API key {key.id}")
    table.add_row(key.name, key.prefix, f"{key.daily_quota:,}", str(key.per_second))
    console.print(table)
    console.print("The key is shown only now; callers send it as the X-API-Key header:")
    print(plain)


@apikeys_app.command("list")
def list_() -> None:
    """Every key with its limits and today's requests as the service last wrote them (once a second)."""
    with one_line_errors(console), unit() as conn:
        keys = apikeys.list_keys(conn)
    if not keys:
        console.print("no API keys yet; create one with `gazetteer apikeys add NAME`")
        return
    table = Table("id", "prefix", "name", "daily quota", "per second", "today", "created", "revoked")
    for key in keys:
        table.add_row(str(key.id), key.prefix, key.name, f"{key.daily_quota:,}", str(key.per_second),
                      f"{key.requests_today:,}", _when(key.created_at), _when(key.revoked_at))
    table.columns[1].no_wrap = True
    Console().print(table)


@apikeys_app.command("revoke")
def revoke(
    key_or_prefix: Annotated[str, typer.Argument(help="the key's id, its prefix (gz_…) or the key")],
    as_user: AsUser = SYSTEM,
) -> None:
    """Revoke a key; a running service refuses it within 30 s."""
    with one_line_errors(console), unit() as conn:
        key = apikeys.revoke_key(conn, key_or_prefix, as_user)
    console.print(f"revoked {key.prefix} ({key.name}); running services refuse it within 30 s")
