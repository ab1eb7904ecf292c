"""The token cache: the ``TokenCache`` port, the one owner of the entry and index formats, the
local files, the DynamoDB tier and the tiered cache that composes them."""
