# Least privilege for ccm on Vault Transit: keys under its own prefix ("ccm-",
# CCM_VAULT_KEY_PREFIX) on the "transit" mount (CCM_VAULT_TRANSIT_MOUNT):
# create and read them, sign and verify with them. No export, backup, delete
# or configuration change, and nothing else in Vault. With another prefix or
# mount, change the paths (test/unit/deployment-*.test.ts hold this file
# against the prefix the deployments set).

# Create (POST; Transit has no existence check, so creating is "update") and
# read (GET: the public key). Vault's "*" globs only at the end of a path and
# cannot stop at a segment, so this rule also matches
# transit/keys/ccm-<name>/config, /trim, /rotate and /import. A deny on
# "transit/keys/ccm-*/config" would be a literal path, and
# "transit/keys/+/config" loses to this rule (Vault prefers the rule whose
# first wildcard comes later). The parameter rule closes them instead: a write
# may carry only "type" and "exportable" = false, which refuses making a key
# exportable, deletable or backupable in plaintext (config), trimming its
# versions (min_available_version) and imports. ("required_parameters" would
# also apply to reads, so it cannot be used to require "type".) Still possible:
# a rotation (an empty POST to .../rotate), which changes nothing for ccm: it
# signs with, and reads, each key's first version only (the one its CA
# certificate certifies; src/custody/vault-transit-custody.ts).
path "transit/keys/ccm-*" {
  capabilities = ["read", "update"]
  allowed_parameters = {
    "type"       = []
    "exportable" = [false]
  }
}

path "transit/sign/ccm-*" {
  capabilities = ["update"]
}

path "transit/verify/ccm-*" {
  capabilities = ["update"]
}

# Readiness reads Vault's health (unauthenticated anyway; listed so that a
# namespace or proxy that requires a token still answers).
path "sys/health" {
  capabilities = ["read"]
}

# Explicit, so that no other policy attached to the same token can add them.
path "transit/export/*" {
  capabilities = ["deny"]
}

path "transit/backup/*" {
  capabilities = ["deny"]
}
