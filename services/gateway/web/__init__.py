"""The browser app: server templates and a little same-origin JavaScript over the /v1 API."""
