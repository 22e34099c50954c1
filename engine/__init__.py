"""alertpolicy's engine, one sub-package per stage, imports pointing one way.

``errors`` <- ``model`` <- ``rules`` <- ``load`` <- ``check`` <- ``decide`` <- ``audit``,
``policytest`` <- ``serve`` (and ``cli`` on top).
"""
