"""Digital market: a Telegram shop bot for digital goods that migrates its own database."""
