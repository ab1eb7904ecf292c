"""A local emulator of Salesforce's OAuth 2.0 endpoints and the REST calls clients make next.

It ships with the product: ``sf-credproc demo`` and ``sf-credproc emulator`` run it, and users' own
tests can start one (``SalesforceEmulator``) instead of a real org.
"""

from .records import salesforce_id
from .server import SalesforceEmulator

__all__ = ["SalesforceEmulator", "salesforce_id"]
