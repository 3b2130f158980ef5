"""`/base alert` through the real HTTP app: signed slash commands, private replies that say
what was set up (or what was wrong, with an example), and `alert list`."""

from __future__ import annotations

from tests.slack.driver import Slack, answer_to, shown


def test_alert_me_then_list_then_unsubscribe(slack: Slack) -> None:
    said = shown(answer_to(slack, "alert me renewal printers mine 07:15 UTC", "U0ALERTS"))
    assert "your direct messages will get the new renewal candidates" in said
    assert "*printers mine*" in said and "at 07:15 (UTC)" in said
    listed = shown(answer_to(slack, "alert list", "U0ALERTS"))
    assert "your direct messages · renewal · *printers mine* · 07:15 UTC" in listed
    # Someone else's direct-message alerts are not theirs to see.
    assert "renewal" not in shown(answer_to(slack, "alert list", "U0OTHER"))
    said = shown(answer_to(slack, "alert unsubscribe me renewal", "U0ALERTS"))
    assert "Stopped 1 alert for your direct messages." in said


def test_a_bad_alert_says_what_was_wrong_with_an_example(slack: Slack) -> None:
    said = shown(answer_to(slack, "alert <#C0SALES|sales> printers", "U0ALERTS"))
    assert "An alert follows one upsell rule" in said
    assert "/base alert #sales service printers in EMEA 08:00 Europe/Berlin" in said
