/**
 * @ccm/nats-agent: ccm's broker agent for nats-server. Devices log in with
 * their certificates under verify_and_map; the adapter keeps the users file
 * of those let in and has the server reload it (README.md).
 */
export { NatsAdapter, type NatsAdapterCounts, type NatsAdapterParts, type NatsAdapterSettings } from './nats-adapter.js';
export { NATS_AGENT_VARIABLES, parseNatsAgentSettings, type NatsAgentSettings } from './configuration.js';
export { natsUserOf, natsUserOfSubject, parseRfc4514, versionHasKick, type SubjectAttribute, type UnmappableReason } from './nats-identity.js';
export { DEFAULT_DEVICE_PERMISSIONS, parseDevicePermissionsJson, parseSubjectList, type DevicePermissions, type ResponsePermission, type SubjectPermission } from './device-permissions.js';
export { AtomicUsersFile, PLACEHOLDER_USER, UsersFileStore, parseUsersFile, renderUsersFile, type StoredUsersFile } from './users-file.js';
export { HttpNatsMonitor, ServerMonitor, preciseTimeMs, type ClientConnection, type ServerVariables } from './nats-monitor.js';
export { PidFileSignaller, ReloadSignaller } from './server-signaller.js';
export { KickFailedError, SessionKicker, SystemAccountKicker, type KickOutcome, type SystemAccountCredentials } from './session-kicker.js';
export {
  AdapterNotStartedError,
  NatsAdapterError,
  NatsMonitorError,
  NatsServerNotRunningError,
  PidFileError,
  ReloadNotConfirmedError,
  SessionsStillOpenError,
  SignalNotPermittedError,
  UsersFileError,
} from './errors.js';
