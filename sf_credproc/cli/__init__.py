"""The command line: the entry point and its fast path, the parser, one module per command.

Nothing is imported here: the cache-hit fast path lives in this package and must stay cheap.
"""
