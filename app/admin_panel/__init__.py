"""The web admin panel (``python -m app admin``): SQLAdmin on Starlette, served by uvicorn.

Only :mod:`app.admin_panel.cli` is imported by the bot's command line; everything else (and
Starlette, SQLAdmin, uvicorn, argon2) is imported only when the panel itself runs.
"""
