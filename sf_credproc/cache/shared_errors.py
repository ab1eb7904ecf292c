"""What goes wrong with the shared tier: the exceptions every user of it catches.

Apart from the item's shape (``shared_item.py``), so that a command that only catches them (the
login-rate breaker, the composition root, on every cold start) does not build the item's classes.
"""


class SharedCacheUnavailable(Exception):
    """Raised when the shared tier cannot be used; never shown as a failure of ``get``."""


class SharedItemMalformed(SharedCacheUnavailable):
    """Raised when the item has missing or wrongly typed fields, or a lease no holder could take."""
