"""Who may run which verb, where public answers may go, and who may see contact fields (SPEC §8).

Pure: rules are loaded from a TOML file (BASEBOT_ACCESS_FILE, see access.example.toml) and
checked against a user, the user's groups and a channel. No rules means everyone may run
everything.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.settings import SettingsError
from queries.view import Msg, _, code


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Members: these users or members of these groups (any, when both are empty); channels:
    only in these channels (any, when empty)."""

    name: str
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()

    def admits(self, user: str, groups: Collection[str], channel: str | None) -> bool:
        if self.channels and channel not in self.channels:
            return False
        if not self.users and not self.groups:
            return True
        return user in self.users or bool(self.groups.intersection(groups))

    def describe(self) -> Msg:
        parts = []
        if self.users:
            parts.append(_("users {ids}", ids=", ".join(sorted(self.users))))
        if self.groups:
            parts.append(_("user groups {ids}", ids=", ".join(sorted(self.groups))))
        if self.channels:
            parts.append(_("channels {ids}", ids=", ".join(sorted(self.channels))))
        name = f"`{self.name}`"
        if not parts:
            return Msg("{name}", params=(("name", name),))
        only = Msg(
            "; ".join(f"{{p{i}}}" for i in range(len(parts))),
            params=tuple((f"p{i}", p) for i, p in enumerate(parts)),
        )
        return _("{name} (only {who})", name=name, who=only)


@dataclass(frozen=True, kw_only=True)
class Refusal:
    rule: str
    message: Msg


@dataclass(frozen=True, kw_only=True)
class Rules:
    verbs: Mapping[str, Rule] = field(default_factory=dict)
    public_channels: frozenset[str] | None = None  # None: any channel
    contacts: Rule | None = None  # None: every asker, in private answers
    # Who may unclaim another rep's claim (SPEC §9). None: nobody but its holder.
    claims_override: Rule | None = None

    @property
    def all_groups(self) -> frozenset[str]:
        """Every user group a rule names (usergroups:read is needed only when there are any)."""
        every = [
            *self.verbs.values(),
            *([self.contacts] if self.contacts else []),
            *([self.claims_override] if self.claims_override else []),
        ]
        return frozenset(g for r in every for g in r.groups)

    def check(
        self,
        *,
        verb: str,
        user: str,
        channel: str | None,
        public: bool,
        groups: Callable[[], Collection[str]] = frozenset,
    ) -> Refusal | None:
        """None when allowed; `groups` is called only when a rule names groups."""
        rule = self.verbs.get(verb)
        if rule is not None and not rule.admits(user, groups() if rule.groups else (), channel):
            return Refusal(
                rule=rule.name,
                message=_(
                    "You can't run {verb} here: the access rule {rule} refused it. Ask your"
                    " basebot admin if you need it.",
                    verb=code(verb),
                    rule=rule.describe(),
                ),
            )
        if public and not self.public_allowed(channel):
            return Refusal(
                rule="public_channels",
                message=_(
                    "Answers can't be posted publicly in this channel (access rule {rule})."
                    " Ask again without {word} for a private answer.",
                    rule="`public_channels`",
                    word="`public`",
                ),
            )
        return None

    def public_allowed(self, channel: str | None) -> bool:
        """Whether public answers, shared answers and digests may be posted in `channel`."""
        return self.public_channels is None or channel in self.public_channels

    def may_override_claims(
        self, *, user: str, groups: Callable[[], Collection[str]] = frozenset
    ) -> bool:
        rule = self.claims_override
        if rule is None:
            return False
        return rule.admits(user, groups() if rule.groups else (), None)

    def may_see_contacts(
        self, *, user: str, public: bool, groups: Callable[[], Collection[str]] = frozenset
    ) -> bool:
        if public:
            return False
        if self.contacts is None:
            return True
        return self.contacts.admits(user, groups() if self.contacts.groups else (), None)


EVERYONE = Rules()


def _ids(data: Mapping[str, Any], key: str, where: str) -> frozenset[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SettingsError(f"BASEBOT_ACCESS_FILE: {where}.{key} must be a list of Slack ids")
    return frozenset(value)


def _rule(name: str, data: Any) -> Rule:
    if not isinstance(data, dict):
        raise SettingsError(f"BASEBOT_ACCESS_FILE: {name} must be a table")
    unknown = set(data) - {"users", "groups", "channels"}
    if unknown:
        raise SettingsError(f"BASEBOT_ACCESS_FILE: {name} has unknown keys {sorted(unknown)}")
    return Rule(
        name=name,
        users=_ids(data, "users", name),
        groups=_ids(data, "groups", name),
        channels=_ids(data, "channels", name),
    )


def parse_rules(data: Mapping[str, Any], *, verbs: Collection[str]) -> Rules:
    unknown = set(data) - {"verbs", "public_channels", "contact_fields", "claims_override"}
    if unknown:
        raise SettingsError(f"BASEBOT_ACCESS_FILE: unknown keys {sorted(unknown)}")
    table = data.get("verbs", {})
    if not isinstance(table, dict):
        raise SettingsError("BASEBOT_ACCESS_FILE: verbs must be a table of verbs")
    bad = sorted(set(table) - set(verbs))
    if bad:
        raise SettingsError(f"BASEBOT_ACCESS_FILE: unknown verbs {bad}")
    public = data.get("public_channels")
    return Rules(
        verbs={verb: _rule(f"verbs.{verb}", rule) for verb, rule in table.items()},
        public_channels=None if public is None else _ids(data, "public_channels", "access"),
        contacts=_rule("contact_fields", data["contact_fields"])
        if "contact_fields" in data
        else None,
        claims_override=_rule("claims_override", data["claims_override"])
        if "claims_override" in data
        else None,
    )


def load_rules(path: str | Path | None, *, verbs: Collection[str]) -> Rules:
    """The rules in a TOML file; everyone may do everything when there is no file."""
    if not path:
        return EVERYONE
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise SettingsError(f"BASEBOT_ACCESS_FILE cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"BASEBOT_ACCESS_FILE is not valid TOML: {exc}") from None
    return parse_rules(data, verbs=verbs)


__all__ = ["EVERYONE", "Refusal", "Rule", "Rules", "load_rules", "parse_rules"]
