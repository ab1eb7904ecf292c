# sf-credproc cert and doctor with --key transit:sf-jwt: the signer's two exact paths, and reading
# the key (its type and the public key of each version) to make the connected app's certificate
# and to check that the key signing today is the one the certificate holds. get does not need the
# read: give this policy to the person or pipeline that sets the app up, not to the job.

path "transit/sign/sf-jwt" {
  capabilities = ["update"]
}

path "transit/sign/sf-jwt/sha2-256" {
  capabilities = ["update"]
}

# Exact, like the sign paths: "transit/keys/sf-jwt*" would also read "sf-jwt-admin".
path "transit/keys/sf-jwt" {
  capabilities = ["read"]
}

# A token sf-credproc obtains by AppRole is revoked when the command ends (auth/token/revoke-self).
# A token without Vault's "default" policy (roles made by approle-setup.sh) may do only what its
# policies grant, so this one grants that too. A token can only revoke itself: nothing more.
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
