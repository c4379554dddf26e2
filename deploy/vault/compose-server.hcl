# Vault server of docker-compose.yml: file storage on a named volume, so the
# Transit keys (the CA keys) survive restarts. Plain HTTP on the compose
# network only; production Vault terminates TLS (CCM_VAULT_ADDR=https://...).
storage "file" {
  path = "/vault/file"
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

api_addr      = "http://vault:8200"
disable_mlock = true
ui            = false
