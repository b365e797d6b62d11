"""Sub-commands of the ``symmpo`` CLI: one module per command, each with ``register(subparsers)``.

A command's ``register`` adds its parser and sets ``func`` (called with the parsed args, returns the exit status).
A user error raises :class:`symmpo.errors.SymmpoError`; ``symmpo.cli.main`` prints it in one line.
"""
