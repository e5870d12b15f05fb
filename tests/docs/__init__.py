"""The guide: every code block and console transcript, and the built site in a browser."""
