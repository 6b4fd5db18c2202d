"""The Textual app. Never imports torch or tensorflow."""
