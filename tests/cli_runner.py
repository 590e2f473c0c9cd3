"""The CLI as the tests call it: in this process, its output captured (a subprocess test says so)."""
import io

from registry.cli import main


def run(*argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``image-deep-hash *argv`` (paths may be Path objects)."""
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out, err)
    return code, out.getvalue(), err.getvalue()
