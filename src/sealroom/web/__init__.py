"""The browser workspace: server-rendered pages on the same app as the API.

Pages show metadata and analysis results only; no page, script or response ever carries an image's
pixels. Every page is ``no-store`` under a strict Content-Security-Policy (no inline script or style);
every form carries a CSRF token bound to the session.
"""
