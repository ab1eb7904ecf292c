#!/bin/sh
# AppRole for a job that runs `sf-credproc get --key transit:sf-jwt`, from nothing.
#
# Run once by an administrator, with VAULT_ADDR and an administrator's VAULT_TOKEN set, from this
# folder or with its path (the policies are read beside this script). VAULT=bao runs it with
# OpenBao's CLI. It prints the role id (an identifier: a setting, --vault-role-id) and one secret id
# (a secret: give it to the job as SF_CREDPROC_VAULT_SECRET_ID or in a file for
# --vault-secret-id-file, never on a command line).
set -eu

VAULT=${VAULT:-vault}
here=$(dirname "$0")

# Transit, and a signing key that never leaves Vault (exportable=false and no plaintext backup are
# Transit's defaults; they are spelled out so that nobody turns them on by accident).
"$VAULT" secrets list -format=json | grep -q '"transit/"' || "$VAULT" secrets enable transit
"$VAULT" write -f transit/keys/sf-jwt type=rsa-2048 exportable=false allow_plaintext_backup=false \
  >/dev/null

# The job's policy: sign with sf-jwt, revoke its own token. Nothing else.
"$VAULT" policy write sf-credproc-signer "$here/transit-signer.hcl"

"$VAULT" auth list -format=json | grep -q '"approle/"' || "$VAULT" auth enable approle

# token_type=service: a batch token cannot be revoked, it would live until its TTL.
# token_no_default_policy: the token holds the signer policy and nothing of "default".
# token_ttl / token_max_ttl: sf-credproc revokes the token when the command ends; the TTL bounds a
# token whose revocation could not be made (Vault unreachable at that moment).
# token_num_uses is left unlimited: a command signs more than once when it retries.
"$VAULT" write auth/approle/role/sf-credproc \
  token_policies=sf-credproc-signer token_no_default_policy=true token_type=service \
  token_ttl=5m token_max_ttl=10m

echo "role id (SF_CREDPROC_VAULT_ROLE_ID / --vault-role-id):"
"$VAULT" read -field=role_id auth/approle/role/sf-credproc/role-id
echo
echo "secret id (SF_CREDPROC_VAULT_SECRET_ID or --vault-secret-id-file):"
"$VAULT" write -f -field=secret_id auth/approle/role/sf-credproc/secret-id
echo
echo "next: the connected app's certificate, made with a token holding transit-cert-operator.hcl:"
echo "  sf-credproc cert --key transit:sf-jwt --out sf-jwt.crt"
