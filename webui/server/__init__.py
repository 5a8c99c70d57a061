"""Serving: the FastAPI app with the API and the Gradio UI mounted (``assembly``), the ASGI
middlewares in front of it (``middleware``), uvicorn (``uvicorn_server``) and the public
share link (``share``). Only ``launch.py`` and tests import this package; the UI and the
APIs never do (this package imports them to build the app)."""
