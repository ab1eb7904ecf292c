# sf-credproc get, cert and doctor with --key vault:secret/salesforce/jwt (KV version 2 at secret/).
#
# KV version 2 serves a secret's current version under MOUNT/data/PATH: that one exact path, read
# only. No "list" (the job knows the path), no "secret/metadata/..." (versions and deletion), and
# no glob: "secret/data/salesforce/*" would hand over every other secret under salesforce/.

path "secret/data/salesforce/jwt" {
  capabilities = ["read"]
}

# A token sf-credproc obtains by AppRole is revoked when the command ends (auth/token/revoke-self).
# A token without Vault's "default" policy (roles made by approle-setup.sh) may do only what its
# policies grant, so this one grants that too. A token can only revoke itself: nothing more.
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
