"""Command-line tools: inference over videos, folders and bags, and the end-to-end demo."""
