"""Key sources: where the signing key lives, and the ``RSAPrivateKey`` each one yields."""
