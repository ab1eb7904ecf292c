"""The token cache: the entry format and its freshness rule, the local files, the fleet tier."""
