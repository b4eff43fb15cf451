"""Channels residents and staff reach the assistant through: web chat (via the bianmin web app), handoff."""
