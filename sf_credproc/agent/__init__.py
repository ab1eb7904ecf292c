"""``sf-credproc agent``: files kept fresh for consumers that read a file (Vault Agent's sinks).

``sink_spec`` parses and checks ``--sink PATH[,format=...][,mode=...]``; ``sink_writer`` replaces
a sink's file atomically; ``loop`` keeps every sink in step with the credential a
``CredentialKeeper`` holds, refreshed by a ``BackgroundRefresher``.
"""
