"""Steps that span the database and Telegram: each transaction is committed before any Bot API
call. Handlers and the background workers call these; services below them never commit."""
