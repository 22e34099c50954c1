"""The ``alertpolicy`` subcommands, a module per family; ``cli.py`` gathers them into one.

They only parse options and render results; the work happens in ``engine/``.
"""
