"""Launch the Gradio app on a free loopback port, for API and browser tests: in-process, or as its own
process whose server log (stderr) the test can read."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from benchmarks.load_test import free_port

ROOT = Path(__file__).resolve().parent.parent


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


@contextmanager
def app_process(log_path: Path):
    """The app as ``python demo.py`` serves it, in a child process whose stderr goes to ``log_path``.

    Yields the URL; the log is complete once the block ends (the process has then exited).
    """
    import httpx
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    code = ("import demo; demo.create_app().launch(server_name='127.0.0.1', server_port=%d, "
            "**demo.launch_kwargs())" % port)  # demo.main without warming the deep model
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.time() + 120
            while True:
                try:
                    if httpx.get(url + "config", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"the app did not start:\n{Path(log_path).read_text()}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
