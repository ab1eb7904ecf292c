# sf-credproc get with --key transit:sf-jwt (Transit mounted at transit/, key sf-jwt).
#
# Signing only: sf-credproc learns the key size from the signature, so get never reads the key.
# Both paths are exact. A glob such as "transit/sign/sf-jwt*" would also match the keys
# "sf-jwt-admin" and "sf-jwt2", i.e. let this token sign with every key whose name starts the same.
# sf-credproc calls the second path (SHA-256 named in the path); the first is the same operation
# with the hash given in the body, listed so that a Vault CLI user of this policy is not surprised.

path "transit/sign/sf-jwt" {
  capabilities = ["update"]
}

path "transit/sign/sf-jwt/sha2-256" {
  capabilities = ["update"]
}

# A token sf-credproc obtains by AppRole is revoked when the command ends (auth/token/revoke-self).
# A token without Vault's "default" policy (roles made by approle-setup.sh) may do only what its
# policies grant, so this one grants that too. A token can only revoke itself: nothing more.
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
