#!/bin/sh
# Vault side of deploy/kubernetes/, run once by a Vault administrator before
# the first `kubectl apply` (and again after changing deploy/vault-policy.hcl):
# Transit, the ccm policy, the Kubernetes auth method and the role ccm's pods
# log in as (CCM_VAULT_AUTH=kubernetes).
#
#   export VAULT_ADDR=https://vault.example.com:8200 VAULT_TOKEN=<admin token>
#   export KUBERNETES_HOST=https://<API server Vault can reach>:6443
#   export KUBERNETES_CA_CERT=/path/to/cluster-ca.pem   # optional
#   export TOKEN_REVIEWER_JWT=<token of a service account bound to
#          system:auth-delegator>   # only when Vault runs outside the cluster
#   sh deploy/vault/kubernetes-setup.sh
#
# Vault checks each pod's token with the TokenReview API: either as itself
# (Vault inside the cluster, its service account bound to
# system:auth-delegator, as the official Helm chart does) or with
# TOKEN_REVIEWER_JWT. The pods' own tokens cannot do it: their audience is
# "vault", not the API server.
set -eu

# Must equal deploy/kubernetes/ (test/unit/deployment-kubernetes.test.ts checks):
NAMESPACE=ccm
SERVICE_ACCOUNT=ccm
ROLE=ccm
MOUNT=kubernetes
AUDIENCE=vault
POLICY=ccm

: "${KUBERNETES_HOST:?set KUBERNETES_HOST to the Kubernetes API address Vault can reach}"
here=$(dirname "$0")

vault secrets list | grep -q '^transit/' || vault secrets enable transit
vault policy write "$POLICY" "$here/../vault-policy.hcl"
vault auth list | grep -q "^$MOUNT/" || vault auth enable -path="$MOUNT" kubernetes

set -- kubernetes_host="$KUBERNETES_HOST"
if [ -n "${KUBERNETES_CA_CERT:-}" ]; then set -- "$@" kubernetes_ca_cert=@"$KUBERNETES_CA_CERT"; fi
if [ -n "${TOKEN_REVIEWER_JWT:-}" ]; then set -- "$@" token_reviewer_jwt="$TOKEN_REVIEWER_JWT"; fi
vault write "auth/$MOUNT/config" "$@"

# Tokens live one hour and are renewed by ccm; a pod that cannot renew logs in again.
vault write "auth/$MOUNT/role/$ROLE" \
  bound_service_account_names="$SERVICE_ACCOUNT" \
  bound_service_account_namespaces="$NAMESPACE" \
  audience="$AUDIENCE" \
  token_policies="$POLICY" \
  token_ttl=1h \
  token_max_ttl=24h
echo "Vault ready for ccm: role $ROLE on auth/$MOUNT, policy $POLICY"
