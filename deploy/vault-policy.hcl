# Least privilege for ccm on Vault Transit: its own key prefix ("ccm-", see
# CCM_VAULT_KEY_PREFIX), create/read/sign/verify only. No export, no delete,
# no config: the keys stay non-exportable and cannot be made exportable.
path "transit/keys/ccm-*" {
  capabilities = ["create", "read", "update"]
}

path "transit/sign/ccm-*" {
  capabilities = ["update"]
}

path "transit/verify/ccm-*" {
  capabilities = ["update"]
}

path "sys/health" {
  capabilities = ["read"]
}

# The glob above also matches transit/keys/ccm-x/config, through which a key
# could be made exportable or deletable. This path is more specific (it does
# not end in a glob), so Vault applies it first: ccm can never change a key's
# configuration.
path "transit/keys/ccm-*/config" {
  capabilities = ["deny"]
}

path "transit/export/*" {
  capabilities = ["deny"]
}
