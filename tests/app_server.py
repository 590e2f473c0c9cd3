"""Launch the Gradio app in-process on a free loopback port, for API and browser tests."""
from __future__ import annotations

from contextlib import contextmanager

from benchmarks.load_test import free_port


@contextmanager
def running_app(**overrides):
    import demo
    app = demo.create_app()
    port = free_port()
    kwargs = {**demo.launch_kwargs(), **overrides}
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **kwargs)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()
