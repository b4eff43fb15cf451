"""Rasa assistant: domain, config, rules/stories (YAML) and custom NLU components (bot.components)."""
