"""The local credential endpoint (``serve``, ``exec --server``): an HTTP/1.1 server for GET on an
asyncio event loop, answering the credential a ``CredentialKeeper`` holds.

One job per module: ``http11`` speaks the protocol (RFC 9112), ``responses`` builds the bytes of an
answer, ``endpoint`` is the application (routes, Host check, authorization, formats, errors, access
log), ``server_token`` finds the token clients must send, ``listen`` binds the address (loopback, a
Unix socket, or TLS), ``runner`` composes them with the keeper and the background refresher.
"""
