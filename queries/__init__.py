"""basebot's data core: models, predefined queries, import and demo data (no Slack here)."""
