"""Composition root: the one place that builds engines, configuration and channels from settings.
Nothing connects at import time; tests build their own context with the same functions.

Connectors are configured by `HANDOFF_*` variables (or `HANDOFF_SECRETS_FILE`); a connector whose
credentials are absent is simply not built. Which accounting systems get invoices is business
configuration (`connectors.accounting` in handoff.yaml).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import Engine

from handoff.accounting.connectors import quickbooks, xero
from handoff.accounting.connectors.generic_rest import GenericRestChannel
from handoff.config import Settings, load_business_config
from handoff.context import AppContext
from handoff.deals.connectors import PollingSource, WebhookSource
from handoff.deals.connectors.generic import GenericSource, load_mapping
from handoff.deals.connectors.hubspot import HubSpotSource, HubSpotWriteback
from handoff.deals.connectors.pipedrive import PipedriveSource
from handoff.deals.connectors.salesforce import SalesforceSource
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import OAuth2, StaticToken, TokenSource, TokenState
from handoff.kernel.connectors.secrets import Secret, Secrets
from handoff.kernel.storage.connector_state import DbConnectorState
from handoff.kernel.storage.db import make_engine, upgrade
from handoff.notifications.channels.email import SmtpChannel
from handoff.notifications.channels.log import LogChannel
from handoff.notifications.channels.slack import SlackChannel, SlackReplyChannel
from handoff.notifications.channels.slack import make_client as slack_client
from handoff.worker.outbox import Channel


def build_context(settings: Settings, *, engine: Engine | None = None, migrate: bool = True) -> AppContext:
    engine = engine or make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    return AppContext(
        engine, load_business_config(settings.config_file, settings.rules_file, dunning_file=settings.dunning_file)
    )


def _sender(name: str, url: str, transport: httpx.BaseTransport | None) -> HttpSender:
    return HttpSender(make_client(url, transport), name)


def _oauth(
    name: str, s: Secrets, prefix: str, token_url: str, state: TokenState, transport: httpx.BaseTransport | None
) -> TokenSource:
    client_secret = s.secret(f"{prefix}_CLIENT_SECRET") or Secret("")
    return OAuth2(
        name,
        _sender(f"{name} token", s.get(f"{prefix}_TOKEN_URL", token_url), transport),
        s.get(f"{prefix}_TOKEN_URL", token_url),
        s.get(f"{prefix}_CLIENT_ID"),
        client_secret,
        state,
        refresh_token=s.secret(f"{prefix}_REFRESH_TOKEN"),
    )


def build_channels(
    settings: Settings, ctx: AppContext | None = None, transport: httpx.BaseTransport | None = None
) -> dict[str, Channel]:
    channels: dict[str, Channel] = {
        "email": SmtpChannel(settings.smtp_host, settings.smtp_port, settings.mail_from),
        "log": LogChannel(settings.log_channel_file),
    }
    s = Secrets.load(settings.env)
    if s.has("HANDOFF_SLACK_BOT_TOKEN", "HANDOFF_SLACK_CHANNEL"):
        token = s.secret("HANDOFF_SLACK_BOT_TOKEN")
        assert token is not None
        channels["slack"] = SlackChannel(
            slack_client(token.reveal(), s.get("HANDOFF_SLACK_API_URL") or None), s.get("HANDOFF_SLACK_CHANNEL")
        )
    if s.has("HANDOFF_SLACK_SIGNING_SECRET"):  # button clicks come in, so their answers go out
        channels["slack_reply"] = SlackReplyChannel()
    if ctx is None:
        return channels
    state = DbConnectorState(ctx)
    options = ctx.config.model.connectors
    if s.has("HANDOFF_XERO_TENANT_ID", "HANDOFF_XERO_CLIENT_ID"):
        channels["xero"] = xero.XeroChannel(
            _sender("xero", s.get("HANDOFF_XERO_API_URL", xero.API_URL), transport),
            _oauth("xero", s, "HANDOFF_XERO", xero.TOKEN_URL, state, transport),
            s.get("HANDOFF_XERO_TENANT_ID"),
            options.xero,
        )
    if s.has("HANDOFF_QBO_REALM_ID", "HANDOFF_QBO_CLIENT_ID"):
        channels["quickbooks"] = quickbooks.QuickBooksChannel(
            _sender("quickbooks", s.get("HANDOFF_QBO_API_URL", quickbooks.API_URL), transport),
            _oauth("quickbooks", s, "HANDOFF_QBO", quickbooks.TOKEN_URL, state, transport),
            s.get("HANDOFF_QBO_REALM_ID"),
            options.quickbooks,
        )
    if s.has("HANDOFF_ACCOUNTING_REST_URL"):
        channels["generic_rest"] = GenericRestChannel(
            _sender("accounting", s.get("HANDOFF_ACCOUNTING_REST_URL"), transport),
            s.secret("HANDOFF_ACCOUNTING_REST_TOKEN"),
        )
    hubspot_token = s.secret("HANDOFF_HUBSPOT_ACCESS_TOKEN")
    if hubspot_token:
        channels["hubspot"] = HubSpotWriteback(
            _sender("hubspot", s.get("HANDOFF_HUBSPOT_API_URL", "https://api.hubapi.com"), transport),
            StaticToken(hubspot_token),
        )
    return channels


def build_slack_signing_secret(settings: Settings) -> str:
    """Slack's signing secret for Approve / Reject clicks (HANDOFF_SLACK_SIGNING_SECRET); empty: off."""
    secret = Secrets.load(settings.env).secret("HANDOFF_SLACK_SIGNING_SECRET")
    return secret.reveal() if secret else ""


def build_crm_sources(settings: Settings, transport: httpx.BaseTransport | None = None) -> dict[str, WebhookSource]:
    """The webhook sources whose credentials are configured, by URL name."""
    s = Secrets.load(settings.env)
    sources: dict[str, WebhookSource] = {}
    hubspot_token, hubspot_secret = s.secret("HANDOFF_HUBSPOT_ACCESS_TOKEN"), s.secret("HANDOFF_HUBSPOT_CLIENT_SECRET")
    if hubspot_token and hubspot_secret:
        sources["hubspot"] = HubSpotSource(
            _sender("hubspot", s.get("HANDOFF_HUBSPOT_API_URL", "https://api.hubapi.com"), transport),
            StaticToken(hubspot_token),
            hubspot_secret,
        )
    pd_token, pd_password = s.secret("HANDOFF_PIPEDRIVE_API_TOKEN"), s.secret("HANDOFF_PIPEDRIVE_WEBHOOK_PASSWORD")
    if pd_token and pd_password and s.get("HANDOFF_PIPEDRIVE_API_URL"):
        sources["pipedrive"] = PipedriveSource(
            _sender("pipedrive", s.get("HANDOFF_PIPEDRIVE_API_URL"), transport),
            pd_token,
            s.get("HANDOFF_PIPEDRIVE_WEBHOOK_USER"),
            pd_password,
        )
    generic_secret = s.secret("HANDOFF_GENERIC_WEBHOOK_SECRET")
    if generic_secret:
        mapping_file = s.get("HANDOFF_CRM_MAPPING")
        model, mapping = load_mapping(Path(mapping_file) if mapping_file else None)
        sources[model.source] = GenericSource(generic_secret, model, mapping)
    return sources


def build_salesforce(
    settings: Settings, ctx: AppContext, transport: httpx.BaseTransport | None = None
) -> PollingSource | None:
    s = Secrets.load(settings.env)
    if not s.get("HANDOFF_SALESFORCE_INSTANCE_URL"):
        return None
    static = s.secret("HANDOFF_SALESFORCE_ACCESS_TOKEN")
    token: TokenSource = (
        StaticToken(static)
        if static
        else _oauth(
            "salesforce",
            s,
            "HANDOFF_SALESFORCE",
            s.get("HANDOFF_SALESFORCE_INSTANCE_URL") + "/services/oauth2/token",
            DbConnectorState(ctx),
            transport,
        )
    )
    return SalesforceSource(_sender("salesforce", s.get("HANDOFF_SALESFORCE_INSTANCE_URL"), transport), token)
