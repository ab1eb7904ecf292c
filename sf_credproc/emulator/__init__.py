"""A local emulator of Salesforce's OAuth 2.0 endpoints and the REST calls clients make next.

It ships with the product: ``sf-credproc demo`` and ``sf-credproc emulator`` run it, and users' own
tests can start one (``SalesforceEmulator``) instead of a real org.
"""

from .server import PASS, CannedResponse, SalesforceEmulator, salesforce_id

__all__ = ["PASS", "CannedResponse", "SalesforceEmulator", "salesforce_id"]
