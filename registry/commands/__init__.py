"""One module per subcommand, each with ``register(subparsers)`` and ``run(args, out, err) -> int``.

As huggingface_hub's ``commands/`` does: ``registry.cli`` only assembles them, so a new command
(``check``, ``dedup``, ``video``) is a new module and one line in ``COMMANDS``.

Exit statuses follow ``sha256sum -c`` and ``cmp``: 0 all good, 1 some files failed or differ,
2 usage error.
"""
from . import check, compare, dedup, hash, list_backends, video

#: In the order ``--help`` lists them.
COMMANDS = (list_backends, hash, compare, check, dedup, video)

OK, FAILED, USAGE = 0, 1, 2
