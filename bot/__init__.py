"""basebot's front ends: command parsing, rendering, the CLI and (later) the Slack app."""
