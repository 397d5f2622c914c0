"""Wiring of the bot: factories for the Bot and Dispatcher, lifecycle hooks, run modes."""
