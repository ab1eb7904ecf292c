"""The OAuth 2.0 JWT bearer grant (RFC 7523): the assertion, the token exchange, its errors."""
