/**
 * @ccm/mosquitto-agent: ccm's broker agent for a stock Mosquitto 2.0. The
 * core (@ccm/broker-agent) decides who may be connected; MosquittoAdapter
 * carries it out with Mosquitto's crlfile (refuses reconnects) and the
 * dynamic-security plugin (ends live sessions). The bin is src/main.ts.
 */
export { MosquittoAdapter, CrlBehindStateError, AdapterNotRunningError, type MosquittoAdapterPorts, type MosquittoAdapterSettings } from './mosquitto-adapter.js';
export { MOSQUITTO_AGENT_VARIABLES, parseMosquittoSettings, type MosquittoSettings } from './configuration.js';
export { createMosquittoAdapter, installCrlsOnce } from './mosquitto-agent.js';
export { AdapterClock, BrokerControl, BrokerReloader, CrlFile, CrlSource, SystemAdapterClock, type ReloadRecord } from './ports.js';
export { AtomicCrlFile } from './crl-file.js';
export { SighupReloader, type PidLocation } from './process-signaller.js';
export { DynsecBrokerControl, DynsecCommandError, DynsecLoginRefusedError, type DynsecControlOptions } from './dynsec-control.js';
export { CcmCrlSource } from './ccm-crl-source.js';
export { CrlRejectedError, crlLists, isOlderThan, normaliseSerial, tenantCrlOf, verifiedIssuerCrl, verifiedTenantCrl, type IssuerCrl, type TenantCrl } from './crl.js';
