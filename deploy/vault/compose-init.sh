#!/bin/sh
# Init step of docker-compose.yml, run at every `docker compose up`:
# initialises Vault on first start (one unseal key, kept on the vault-init
# volume: a try-out stack, not how to hold unseal keys), unseals it, enables
# Transit, writes the ccm policy (deploy/vault-policy.hcl) and an AppRole
# "ccm" bound to it, with the role_id and secret_id compose gives ccm.
# ccm never sees the root token. Idempotent.
set -eu
: "${CCM_VAULT_ROLE_ID:?}" "${CCM_VAULT_SECRET_ID:?}"
keys=/vault/init/init.txt

until vault status >/dev/null 2>&1 || [ $? -eq 2 ]; do
  echo "waiting for Vault at $VAULT_ADDR"; sleep 1
done

if ! vault status -format=json | grep -q '"initialized": true'; then
  umask 077
  vault operator init -key-shares=1 -key-threshold=1 > "$keys"
fi
unseal_key=$(sed -n 's/^Unseal Key 1: //p' "$keys")
VAULT_TOKEN=$(sed -n 's/^Initial Root Token: //p' "$keys")
export VAULT_TOKEN
if vault status -format=json | grep -q '"sealed": true'; then
  vault operator unseal "$unseal_key" >/dev/null
fi

vault secrets list | grep -q '^transit/' || vault secrets enable transit
vault policy write ccm /policy/ccm.hcl
vault auth list | grep -q '^approle/' || vault auth enable approle
vault write auth/approle/role/ccm token_policies=ccm token_ttl=1h token_max_ttl=4h secret_id_num_uses=0 secret_id_ttl=0
vault write auth/approle/role/ccm/role-id role_id="$CCM_VAULT_ROLE_ID"
if ! vault write auth/approle/role/ccm/secret-id/lookup secret_id="$CCM_VAULT_SECRET_ID" 2>/dev/null | grep -q secret_id_accessor; then
  vault write auth/approle/role/ccm/custom-secret-id secret_id="$CCM_VAULT_SECRET_ID" >/dev/null
fi
echo "Vault ready: Transit, policy ccm, AppRole ccm"
