"""Composition root: the one place that builds engines, configuration and channels from settings.
Nothing connects at import time; tests build their own context with the same functions.

Connectors are configured by `HANDOFF_*` variables (or `HANDOFF_SECRETS_FILE`); a connector whose
credentials are absent is simply not built. Xero and QuickBooks credentials may also be set per
selling entity (`HANDOFF_XERO_ACME_DE_CLIENT_ID` ...), each falling back to the shared one. Which
accounting systems get invoices is business configuration (`connectors.accounting` in handoff.yaml).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from handoff.accounting.connectors import quickbooks, xero
from handoff.accounting.connectors.generic_rest import GenericRestChannel
from handoff.config import Settings, load_business_config
from handoff.context import AppContext
from handoff.deals.connectors import PollingSource, WebhookSource
from handoff.deals.connectors.generic import GenericSource, load_mapping
from handoff.deals.connectors.hubspot import HubSpotSource, HubSpotWriteback
from handoff.deals.connectors.mapping_file import SourceMapping, default_mapping, load_source_mapping
from handoff.deals.connectors.pipedrive import PipedriveSource, PipedriveWriteback
from handoff.deals.connectors.salesforce import SalesforceSource, SalesforceWriteback
from handoff.invoicing.connectors import stripe_tax
from handoff.invoicing.domain.sales_tax import STRIPE_TAX, SalesTaxEngine
from handoff.invoicing.service.mailing import email_documents
from handoff.kernel.audit_keys import load_audit_keys
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import OAuth2, StaticToken, TokenSource, TokenState
from handoff.kernel.connectors.secrets import Secret, Secrets, SecretsError, scope_key
from handoff.kernel.storage.connector_state import DbConnectorState
from handoff.kernel.storage.db import make_engine, upgrade
from handoff.notifications.channels.email import SmtpChannel
from handoff.notifications.channels.log import LogChannel
from handoff.notifications.channels.slack import SlackChannel, SlackReplyChannel
from handoff.notifications.channels.slack import make_client as slack_client
from handoff.projects.connectors.project_tool import ProjectToolClient
from handoff.projects.service.project_tool import CHANNEL as PROJECT_TOOL
from handoff.projects.service.project_tool import ProjectToolChannel
from handoff.worker.outbox import Channel


def build_context(settings: Settings, *, engine: Engine | None = None, migrate: bool = True) -> AppContext:
    # the audit chain's keys (HANDOFF_AUDIT_KEY ...), first: SecretsError naming a setting that is wrong
    keys = load_audit_keys(settings.env, settings.database_url)
    engine = engine or make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    config = load_business_config(
        settings.config_file,
        settings.rules_file,
        dunning_file=settings.dunning_file,
        sales_tax_file=settings.sales_tax_file,
    )
    return AppContext(engine, config, tax_engines=build_tax_engines(settings), audit_keys=keys)


def build_tax_engines(settings: Settings, transport: httpx.BaseTransport | None = None) -> dict[str, SalesTaxEngine]:
    """The outside US sales tax engines, by name: Stripe Tax (`HANDOFF_STRIPE_API_KEY`, optionally
    `HANDOFF_STRIPE_API_URL` and `HANDOFF_STRIPE_API_VERSION`). Without a key it is built all the
    same, refusing every calculation with that reason, so an entity configured for it waits in the
    exception queue rather than charging nothing."""
    s = Secrets.load(settings.env)
    sender = HttpSender(
        make_client(s.get("HANDOFF_STRIPE_API_URL", stripe_tax.API_URL), transport, timeout=stripe_tax.TIMEOUT),
        "stripe tax",
    )
    engine = stripe_tax.StripeTax(sender, s.secret("HANDOFF_STRIPE_API_KEY"), s.get("HANDOFF_STRIPE_API_VERSION"))
    return {STRIPE_TAX: engine}


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


OAUTH_NAMES = ("CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN")


def _entity_tokens(
    name: str,
    s: Secrets,
    prefix: str,
    token_url: str,
    state: TokenState,
    transport: httpx.BaseTransport | None,
    entities: Iterable[str],
) -> dict[str, TokenSource]:
    """The selling entities with OAuth credentials of their own (`{prefix}_{ENTITY}_CLIENT_ID`,
    `_CLIENT_SECRET`, `_REFRESH_TOKEN`; ENTITY: the code in capitals, `-` as `_`), each with its own
    token set (saved as `{name}:{code}`); each credential it does not set is the shared one. An
    entity's own client id needs its own secret. Entities without any share the connector's token."""
    tokens: dict[str, TokenSource] = {}
    seen: dict[str, str] = {}
    for code in entities:
        own = s.scoped(prefix, code, OAUTH_NAMES)
        if own is None:
            continue
        client_id, client_secret = (s.own_name(prefix, code, n) for n in ("CLIENT_ID", "CLIENT_SECRET"))
        if s.has(client_id) and not s.has(client_secret):
            raise SecretsError(
                f"{client_id} is set but {client_secret} is not: entity {code}'s own client needs its secret"
            )
        key = scope_key(code)
        if key in seen:
            raise SecretsError(f"entities {seen[key]} and {code} would both read {prefix}_{key}_*: rename one")
        seen[key] = code
        tokens[code] = _oauth(f"{name}:{code}", own, prefix, token_url, state, transport)
    return tokens


def build_channels(
    settings: Settings, ctx: AppContext | None = None, transport: httpx.BaseTransport | None = None
) -> dict[str, Channel]:
    # invoice e-mails carry their documents, rendered at delivery from the stored invoice
    documents = partial(email_documents, ctx) if ctx is not None else None
    channels: dict[str, Channel] = {
        "email": SmtpChannel(settings.smtp_host, settings.smtp_port, settings.mail_from, documents=documents),
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
    entities = list(ctx.config.model.legal_entities)
    xero_tokens = _entity_tokens("xero", s, "HANDOFF_XERO", xero.TOKEN_URL, state, transport, entities)
    if s.has("HANDOFF_XERO_TENANT_ID", "HANDOFF_XERO_CLIENT_ID") or xero_tokens:
        channels["xero"] = xero.XeroChannel(
            _sender("xero", s.get("HANDOFF_XERO_API_URL", xero.API_URL), transport),
            _oauth("xero", s, "HANDOFF_XERO", xero.TOKEN_URL, state, transport),
            s.get("HANDOFF_XERO_TENANT_ID"),
            options.xero,
            tokens=xero_tokens,
        )
    qbo_tokens = _entity_tokens("quickbooks", s, "HANDOFF_QBO", quickbooks.TOKEN_URL, state, transport, entities)
    if s.has("HANDOFF_QBO_REALM_ID", "HANDOFF_QBO_CLIENT_ID") or qbo_tokens:
        channels["quickbooks"] = quickbooks.QuickBooksChannel(
            _sender("quickbooks", s.get("HANDOFF_QBO_API_URL", quickbooks.API_URL), transport),
            _oauth("quickbooks", s, "HANDOFF_QBO", quickbooks.TOKEN_URL, state, transport),
            s.get("HANDOFF_QBO_REALM_ID"),
            options.quickbooks,
            tokens=qbo_tokens,
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
            crm_mapping(settings, "hubspot"),
        )
    pd_token = s.secret("HANDOFF_PIPEDRIVE_API_TOKEN")
    if pd_token and s.get("HANDOFF_PIPEDRIVE_API_URL"):
        channels["pipedrive"] = PipedriveWriteback(
            _sender("pipedrive", s.get("HANDOFF_PIPEDRIVE_API_URL"), transport),
            pd_token,
            crm_mapping(settings, "pipedrive"),
            state,
        )
    if s.get("HANDOFF_SALESFORCE_INSTANCE_URL"):
        channels["salesforce"] = SalesforceWriteback(
            _sender("salesforce", s.get("HANDOFF_SALESFORCE_INSTANCE_URL"), transport),
            _salesforce_token(s, state, transport),
            crm_mapping(settings, "salesforce"),
        )
    tool = options.project_tool
    tool_secret = s.secret(tool.secret_env) if tool is not None else None
    if tool is not None and tool_secret:  # without its secret nothing is pushed (the rows wait, then dead-letter)
        channels[PROJECT_TOOL] = ProjectToolChannel(
            ctx, ProjectToolClient(_sender("project tool", tool.url, transport), tool.url, tool_secret, ctx.clock)
        )
    return channels


def build_delivery_webhook_secrets(settings: Settings, ctx: AppContext) -> dict[str, str]:
    """The delivery webhook's secret per source (`connectors.delivery_webhooks`)."""
    return _webhook_secrets(settings, ctx.config.model.connectors.delivery_webhooks)


def build_usage_webhook_secrets(settings: Settings, ctx: AppContext) -> dict[str, str]:
    """The usage webhook's secret per source (`connectors.usage_webhooks`)."""
    return _webhook_secrets(settings, ctx.config.model.connectors.usage_webhooks)


def _webhook_secrets(settings: Settings, hooks: Mapping[str, Any]) -> dict[str, str]:
    """Each source's secret (`hooks` names the setting of each, as `secret_env`); a source whose
    setting is unset is left out, so its webhook stays closed. ValueError for a secret too short
    to be one."""
    s = Secrets.load(settings.env)
    found: dict[str, str] = {}
    for source, hook in hooks.items():
        secret = s.secret(hook.secret_env)
        if secret and len(secret.reveal()) < MIN_WEBHOOK_TOKEN:
            raise ValueError(
                f"{hook.secret_env} must have at least {MIN_WEBHOOK_TOKEN} characters (a random one is best)"
            )
        if secret:
            found[source] = secret.reveal()
    return found


def crm_mapping(settings: Settings, source: str) -> SourceMapping:
    """CRM source `source`'s mapping: the file `HANDOFF_<SOURCE>_MAPPING` names, else the built-in
    one (`defaults/crm/<source>.yaml`); a bad file raises MappingFileError naming it and the entry."""
    path = Secrets.load(settings.env).get(f"HANDOFF_{source.upper()}_MAPPING")
    return load_source_mapping(Path(path), source) if path else default_mapping(source)


MIN_WEBHOOK_TOKEN = 24  # characters: a shorter shared token can be guessed


def build_webhook_tokens(settings: Settings) -> tuple[str, ...]:
    """The deal webhook's tokens: HANDOFF_WEBHOOK_TOKEN, and HANDOFF_WEBHOOK_TOKEN_PREVIOUS while
    senders move to a new one (rotation); none: the webhook is closed. ValueError for a token too
    short to be a secret."""
    s = Secrets.load(settings.env)
    tokens = []
    for name in ("HANDOFF_WEBHOOK_TOKEN", "HANDOFF_WEBHOOK_TOKEN_PREVIOUS"):
        secret = s.secret(name)
        if secret and len(secret.reveal()) < MIN_WEBHOOK_TOKEN:
            raise ValueError(f"{name} must have at least {MIN_WEBHOOK_TOKEN} characters (a random one is best)")
        if secret:
            tokens.append(secret.reveal())
    if not s.secret("HANDOFF_WEBHOOK_TOKEN") and tokens:
        raise ValueError("HANDOFF_WEBHOOK_TOKEN_PREVIOUS is set without HANDOFF_WEBHOOK_TOKEN")
    return tuple(tokens)


def build_slack_signing_secret(settings: Settings) -> str:
    """Slack's signing secret for Approve / Reject clicks (HANDOFF_SLACK_SIGNING_SECRET); empty: off."""
    secret = Secrets.load(settings.env).secret("HANDOFF_SLACK_SIGNING_SECRET")
    return secret.reveal() if secret else ""


def build_crm_sources(
    settings: Settings, transport: httpx.BaseTransport | None = None, ctx: AppContext | None = None
) -> dict[str, WebhookSource]:
    """The webhook sources whose credentials are configured, by URL name; with `ctx`, what they
    keep (Pipedrive's field lists) is kept in the database, shared by every process."""
    s = Secrets.load(settings.env)
    sources: dict[str, WebhookSource] = {}
    hubspot_token, hubspot_secret = s.secret("HANDOFF_HUBSPOT_ACCESS_TOKEN"), s.secret("HANDOFF_HUBSPOT_CLIENT_SECRET")
    if hubspot_token and hubspot_secret:
        sources["hubspot"] = HubSpotSource(
            _sender("hubspot", s.get("HANDOFF_HUBSPOT_API_URL", "https://api.hubapi.com"), transport),
            StaticToken(hubspot_token),
            hubspot_secret,
            crm_mapping(settings, "hubspot"),
        )
    pd_token, pd_password = s.secret("HANDOFF_PIPEDRIVE_API_TOKEN"), s.secret("HANDOFF_PIPEDRIVE_WEBHOOK_PASSWORD")
    if pd_token and pd_password and s.get("HANDOFF_PIPEDRIVE_API_URL"):
        sources["pipedrive"] = PipedriveSource(
            _sender("pipedrive", s.get("HANDOFF_PIPEDRIVE_API_URL"), transport),
            pd_token,
            s.get("HANDOFF_PIPEDRIVE_WEBHOOK_USER"),
            pd_password,
            crm_mapping(settings, "pipedrive"),
            DbConnectorState(ctx) if ctx is not None else None,
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
    token = _salesforce_token(s, DbConnectorState(ctx), transport)
    return SalesforceSource(
        _sender("salesforce", s.get("HANDOFF_SALESFORCE_INSTANCE_URL"), transport),
        token,
        crm_mapping(settings, "salesforce"),
    )


def _salesforce_token(s: Secrets, state: TokenState, transport: httpx.BaseTransport | None) -> TokenSource:
    """HANDOFF_SALESFORCE_ACCESS_TOKEN, else OAuth2 (prefix HANDOFF_SALESFORCE) at the instance."""
    static = s.secret("HANDOFF_SALESFORCE_ACCESS_TOKEN")
    if static:
        return StaticToken(static)
    token_url = s.get("HANDOFF_SALESFORCE_INSTANCE_URL") + "/services/oauth2/token"
    return _oauth("salesforce", s, "HANDOFF_SALESFORCE", token_url, state, transport)
