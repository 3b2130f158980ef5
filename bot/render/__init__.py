"""Pure renderers: query results → text (CLI) or Block Kit (Slack)."""
