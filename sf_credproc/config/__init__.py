"""Settings: the option spec, their resolution (flag > env > profile > default), and the inputs'
parsers (config file, key URIs, the login URL policy, host names, paths)."""
