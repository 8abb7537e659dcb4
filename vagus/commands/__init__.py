"""One module per `vagus` subcommand family; each registers its parsers and handlers.

Adding a subcommand means adding a module with a `register(subparsers) -> Handlers` function and
listing it in `vagus.cli.COMMAND_MODULES`; nothing else in the CLI changes.
"""
