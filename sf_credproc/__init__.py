"""sf-credproc: Salesforce access tokens through the OAuth 2.0 JWT bearer flow, as an external
credential process, with the signing key held in AWS KMS, Secrets Manager or SSM Parameter Store.
"""

__version__ = "0.1.0"
