"""The App Home as a Slack view (`views.publish`): pure, from a Home, in the reader's language."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    HeaderBlock,
    Option,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.home import Home
from bot.i18n import Speaker
from bot.render.blocks import MAX_OPTION_TEXT, MAX_OPTION_VALUE, clip, esc, figures, section
from queries.claims import STATUS_WORDS
from queries.upsell import RULES, claim_choices, detail
from queries.view import Msg, Person, _

ACTION_HOME_REFRESH = "basebot_home_refresh"
ACTION_HOME_CHOOSE = "basebot_home_choose"  # + "_<rule>": one menu per rule
MAX_HOME_BLOCKS = 100


def home_view(home: Home, speak: Speaker) -> dict[str, Any]:
    """The Home tab's view: validated by slack_sdk, within Slack's 100 blocks."""
    blocks: list[Block] = []
    if home.owns:
        blocks.append(HeaderBlock(text=clip(speak(_("Your accounts")), 150)))
        blocks.append(
            figures(
                [
                    (speak.count(home.accounts), speak(_("customers"))),
                    (speak.count(home.units), speak(_("units in use"))),
                    (speak.count(home.without_service), speak(_("units without service"))),
                ]
            )
        )
        best = esc(speak(_("Your best candidates, unclaimed or yours")))
        blocks.append(section(f"*{best}*"))
    else:
        blocks.append(HeaderBlock(text=clip(speak(_("Top upsell candidates")), 150)))
        blocks.append(
            section(
                esc(
                    speak(
                        _(
                            "No account has you as its owner yet. An account gets an owner from"
                            " the owner column of customers.csv (your email or Slack user id);"
                            " ask whoever imports your data. Meanwhile, here are everyone's"
                            " best candidates."
                        )
                    )
                )
            )
        )
    groups = home.candidates.by_rule()
    user = home.me.user_id or home.me.email
    for rule, found in groups.items():
        if not found:
            continue
        lines = "\n".join(
            f"{n}. {esc(c.name)} (`{esc(c.customer_ref)}`) · {esc(c.category)} · "
            + esc(speak(detail(c, home.as_of).msg))
            + (f" · {esc(speak(_claimed(c)))}" if c.claim else "")
            for n, c in enumerate(found, 1)
        )
        blocks.append(section(f"*{esc(speak(RULES[rule]))}*\n{lines}"))
        options = [
            Option(text=clip(speak(choice.label), MAX_OPTION_TEXT), value=choice.command)
            for n, c in enumerate(found)
            for choice in claim_choices(n, c, user)
            if len(choice.command) <= MAX_OPTION_VALUE
        ][:100]
        if options:
            blocks.append(
                ActionsBlock(
                    elements=[
                        StaticSelectElement(
                            placeholder=PlainTextObject(
                                text=clip(speak(_("Claim, contacted, dismiss or unclaim…")), 75)
                            ),
                            action_id=f"{ACTION_HOME_CHOOSE}_{rule}",
                            options=options,
                        )
                    ]
                )
            )
    if not any(groups.values()):
        blocks.append(section(esc(speak(_("No candidates.")))))
    if home.owns:
        blocks.append(DividerBlock())
        due = "\n".join(
            f"• {esc(c.name)} (`{esc(c.customer_ref)}`) · {esc(c.category)} · "
            + esc(speak(detail(c, home.as_of).msg))
            for c in home.renewals
        ) or esc(speak(_("none")))
        title = esc(speak(_("Renewals due within 30 days")))
        blocks.append(section(f"*{title}*\n{due}"))
    held = "\n".join(
        f"• `{esc(h.customer_ref)}` · {esc(h.category)} · {esc(h.rule)} · "
        + esc(speak(_until(h.hold.status, h.hold.until)))
        + (
            " · " + esc(speak(_("resolved: no longer a candidate")))
            if (h.customer_ref, h.category, h.rule) in home.resolved
            else ""
        )
        for h in home.claims
    ) or esc(speak(_("none")))
    claims_title = esc(speak(_("Your open claims")))
    blocks.append(section(f"*{claims_title}*\n{held}"))
    blocks.append(
        ActionsBlock(
            elements=[
                ButtonElement(
                    text=PlainTextObject(text=speak(_("Refresh"))),
                    action_id=ACTION_HOME_REFRESH,
                    value="refresh",
                )
            ]
        )
    )
    view = View(type="home", blocks=blocks[:MAX_HOME_BLOCKS])
    view.validate_json()
    return view.to_dict()


def _claimed(c: Any) -> Msg:
    return _(
        "{status} by {user}",
        status=STATUS_WORDS.get(c.claim.status, Msg(c.claim.status)),
        user=Person(c.claim.user),
    )


def _until(status: str, until: str) -> Msg:
    return _(
        "{status} until {day}",
        status=STATUS_WORDS.get(status, Msg(status)),
        day=date.fromisoformat(until),
    )


__all__ = ["ACTION_HOME_CHOOSE", "ACTION_HOME_REFRESH", "MAX_HOME_BLOCKS", "home_view"]
