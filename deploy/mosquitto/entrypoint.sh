#!/bin/sh
# Entrypoint of the mosquitto service of docker-compose.yml. Makes the
# dynamic-security admin user the agent logs in as (once; password from
# broker-setup), then waits for the first crlfile: Mosquitto refuses to start
# without it, and the agent writes it before anything else.
set -eu
dynsec=/mosquitto/data/dynamic-security.json
if [ ! -f "$dynsec" ]; then
  mosquitto_ctrl dynsec init "$dynsec" ccm-agent "$(cat /broker/agent-password)"
fi
chown -R mosquitto:mosquitto /mosquitto/data
until [ -s /broker/crl.pem ]; do
  echo "waiting for the agent to write /broker/crl.pem"
  sleep 1
done
exec mosquitto -c /mosquitto/config/mosquitto.conf
