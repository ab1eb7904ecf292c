"""The command line: the parser, one funnel from exceptions to exit codes, one module per command.

The console script starts in ``launch.py`` beside this package, which answers a cache hit without
importing it.
"""
