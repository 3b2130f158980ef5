"""The access rules on their own, the example file, and fail-fast configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.access import EVERYONE, load_rules
from bot.app import web_client
from bot.i18n import speaker
from bot.parsing import VERBS
from bot.serve import socket_handler, wsgi_app
from bot.settings import Settings, SettingsError

EXAMPLE = Path(__file__).parents[2] / "access.example.toml"


def test_without_rules_everyone_may_run_everything() -> None:
    for verb in VERBS:
        assert EVERYONE.check(verb=verb, user="U1", channel="C1", public=True) is None
    assert EVERYONE.may_see_contacts(user="U1", public=False)
    assert not EVERYONE.may_see_contacts(user="U1", public=True)


def test_the_example_file_loads_and_says_what_it_says() -> None:
    rules = load_rules(EXAMPLE, verbs=VERBS)
    assert rules.all_groups == {"S0SUPPORT", "S0SALES", "S0MANAGERS", "S0DATA"}

    def support() -> frozenset[str]:
        return frozenset({"S0SUPPORT"})

    refused = rules.check(verb="customer", user="U1", channel="C0SALES", public=False)
    assert refused is not None and refused.rule == "verbs.customer"
    assert "S0SALES" in speaker()(refused.message)
    assert (
        rules.check(verb="customer", user="U1", channel="C1", public=False, groups=support) is None
    )
    assert rules.check(verb="installed", user="U1", channel="C1", public=False) is None
    refused = rules.check(verb="installed", user="U1", channel="C1", public=True)
    assert refused is not None and refused.rule == "public_channels"
    assert rules.check(verb="installed", user="U1", channel="C0SALES", public=True) is None
    refused = rules.check(verb="health", user="U0DATAOWNER", channel="C1", public=False)
    assert refused is not None and refused.rule == "verbs.health"
    assert rules.check(verb="health", user="U0DATAOWNER", channel="C0DATA", public=False) is None
    assert rules.may_see_contacts(user="U1", public=False, groups=support)
    assert not rules.may_see_contacts(user="U1", public=False)
    assert not rules.may_see_contacts(user="U1", public=True, groups=support)


def test_groups_are_looked_up_only_when_a_rule_needs_them() -> None:
    rules = load_rules(EXAMPLE, verbs=VERBS)

    def never() -> frozenset[str]:
        raise AssertionError("looked up groups for a verb without a group rule")

    assert rules.check(verb="top", user="U1", channel="C1", public=False, groups=never) is None


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("[verbs.frobnicate]\nusers = ['U1']", "unknown verbs"),
        ("[verbs.customer]\nusers = 'U1'", "list of Slack ids"),
        ("[verbs.customer]\npeople = ['U1']", "unknown keys"),
        ("public_channel = ['C1']", "unknown keys"),
        ("[verbs.customer", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_variable(
    tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "access.toml"
    path.write_text(content)
    with pytest.raises(SettingsError, match="BASEBOT_ACCESS_FILE") as raised:
        load_rules(path, verbs=VERBS)
    assert complaint in str(raised.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="BASEBOT_ACCESS_FILE cannot be read"):
        load_rules(tmp_path / "nowhere.toml", verbs=VERBS)


def test_startup_fails_fast_naming_the_missing_secret_without_echoing_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN"):
        web_client(Settings(slack_signing_secret="s3cret-value"))
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET") as raised:
        wsgi_app(Settings(slack_bot_token="xoxb-s3cret-value"), None)  # type: ignore[arg-type]
    assert "s3cret" not in str(raised.value)
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN") as raised:
        socket_handler(Settings(slack_bot_token="xoxb-s3cret-value"), None)  # type: ignore[arg-type]
    assert "s3cret" not in str(raised.value)
    for name, value in (
        ("BASEBOT_STATEMENT_TIMEOUT_MS", "soon"),
        ("BASEBOT_CONNECT_TIMEOUT_S", "-1"),
    ):
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(dotenv=False)
        monkeypatch.delenv(name)


def test_settings_read_the_trust_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASEBOT_ACCESS_FILE", "/etc/basebot/access.toml")
    monkeypatch.setenv("SLACK_TEAM_ID", "T1")
    monkeypatch.setenv("SLACK_APP_ID", "A1")
    monkeypatch.setenv("BASEBOT_STATEMENT_TIMEOUT_MS", "2500")
    settings = Settings.from_env(dotenv=False)
    assert settings.access_file == "/etc/basebot/access.toml"
    assert (settings.slack_team_id, settings.slack_app_id) == ("T1", "A1")
    assert settings.statement_timeout_ms == 2500
