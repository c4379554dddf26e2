/**
 * @ccm/broker-agent: the core every ccm broker agent runs on. A broker
 * plugs in as a BrokerAdapter (broker-port.ts); its bin calls runAgentMain.
 */
export { BrokerAdapter, BrokerRefusedAgentError, type CertificateState, type CertificateStatus, type Device, type SubjectAltNames } from './broker-port.js';
export { AgentLog, JsonLineLog, AGENT_LOG_LEVELS, type AgentLogLevel } from './agent-log.js';
export { AgentClock, SystemAgentClock } from './agent-clock.js';
export { AgentMetrics } from './agent-metrics.js';
export { CcmApi, CcmRequestError, type CcmApiOptions } from './ccm-api.js';
export { CcmCertificateDirectory, CertificateDirectory } from './ccm-directory.js';
export { AgentConfigurationError, COMMON_AGENT_VARIABLES, parseAgentConfiguration, type AgentConfiguration, type AgentVariable, type EventSourceConfiguration } from './configuration.js';
export { DeviceIndex, verdictOf, VERDICTS, type Verdict } from './device-index.js';
export { BrokerAgent, type BrokerAgentDependencies } from './broker-agent.js';
export { HealthServer } from './health-server.js';
export { runAgentMain, type AdapterContext, type AgentMain } from './run-agent-main.js';
export { EnvironmentReader, type Environment } from '@ccm/configuration';
export { certificateUrn } from '@ccm/event-consumer/contract';
