"""The web view: the alert map, ``who``, users and categories as HTML pages, and the diff.

Pages are rendered on the server from Jinja2 templates shipped with the package
(``templates/``), with inline styles and no script: they read the same with JavaScript
off, printed, or opened from disk.  :class:`~.site.PolicyPages` renders one revision's
pages (served under ``/ui/`` by :mod:`alertpolicy.engine.serve.ui`, or written as files by
:func:`~.site.export_site`); :func:`~.render.diff_page` renders a policy diff as one
self-contained page.
"""
