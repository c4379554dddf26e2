/**
 * The broker-control adapter: Mosquitto's dynamic-security plugin, driven
 * over MQTT as its admin user by publishing command batches to
 * `$CONTROL/dynamic-security/v1` and matching the answers on
 * `$CONTROL/dynamic-security/v1/response` by correlationData.
 *
 * Measured on Mosquitto 2.0.11: disableClient disconnects a live
 * certificate-authenticated session in about 1 to 4 ms, and does so again
 * each time it is sent, even for a client already disabled (that is how the
 * agent kicks again after a reload). It does not stop the device from
 * reconnecting: with use_identity_as_username the plugin never sees a
 * password check, so the CRL is what refuses the reconnect. A kick needs a
 * dynsec client of that username, so one is created when missing (no
 * password, no roles: the same ACL as a username the plugin does not know),
 * marked as the agent's by its textname. Letting the device back in deletes
 * such a client again, and only such a one (an operator's own client of that
 * username is enabled, and keeps its roles): every command that changes a
 * client makes the plugin save its whole configuration, so each client left
 * behind makes every later kick dearer. Measured on 2.0.11: kicking 100 new
 * devices took 60 ms with no other clients and 280 ms with 1,100.
 *
 * Commands issued in the same turn of the event loop travel in one message,
 * so the kicks of a burst of suspensions cost one round trip.
 *
 * Commands go at QoS 0, and one message at a time: Mosquitto does not set
 * TCP_NODELAY by default (set_tcp_nodelay false), so a second small write to
 * our socket waits in Nagle's algorithm until we ACK the first, and Linux
 * delays that ACK by ~40 ms. A QoS 1 command is answered by two writes
 * (PUBACK, then the response) and so costs ~45 ms per round trip instead of
 * under 1 ms (measured on 2.0.11); two messages in flight cost the same
 * stall for the second answer. Commands queued while one message is
 * answered go out together in the next. A lost QoS 0 command (the admin
 * connection dropping) is a timeout for its callers, who retry.
 */
import { BrokerRefusedAgentError } from '@ccm/broker-agent';
import mqtt, { type MqttClient } from 'mqtt';
import { BrokerControl } from './ports.js';

const CONTROL_TOPIC = '$CONTROL/dynamic-security/v1';
const RESPONSE_TOPIC = `${CONTROL_TOPIC}/response`;

export interface DynsecControlOptions {
  /** The admin listener, e.g. mqtt://127.0.0.1:1883. */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** How long to wait for the answer to one batch, in milliseconds. */
  readonly timeoutMs?: number;
  /** Reports connection trouble (mqtt.js keeps reconnecting). */
  readonly onConnectionError?: (error: Error) => void;
}

interface DynsecCommand {
  readonly command: string;
  readonly username?: string;
  readonly textname?: string;
  readonly verbose?: boolean;
}

/** The textname of the clients the agent creates, and the only ones it deletes. */
export const AGENT_CLIENT_TEXTNAME = 'ccm-mosquitto-agent: created to kick this device; deleted when it is let back in';

interface DynsecResponse {
  readonly command: string;
  readonly correlationData?: string;
  readonly error?: string;
  readonly data?: unknown;
}

/** Mosquitto refused the admin login (wrong username or password): retrying with the same credentials cannot help. */
export class DynsecLoginRefusedError extends BrokerRefusedAgentError {
  constructor(url: string, detail: string) {
    super(`Mosquitto at ${url} refused the dynamic-security admin login: ${detail}`);
    this.name = 'DynsecLoginRefusedError';
  }
}

export class DynsecCommandError extends Error {
  constructor(readonly failures: ReadonlyArray<{ command: string; username: string; error: string }>) {
    super(`dynamic-security refused: ${failures.map((f) => `${f.command} ${f.username}: ${f.error}`).join('; ')}`);
    this.name = 'DynsecCommandError';
  }
}

/** CONNACK codes of a refused login (MQTT 3.1.1: 4 bad username or password, 5 not authorised; MQTT 5: 134, 135). */
const LOGIN_REFUSED_CODES: ReadonlySet<unknown> = new Set([4, 5, 134, 135]);

/** Answers that mean "already as wanted", not failure. */
const HARMLESS_ERRORS: Readonly<Record<string, string>> = {
  createClient: 'Client already exists',
  enableClient: 'Client not found',
  deleteClient: 'Client not found',
  getClient: 'Client not found',
};

export class DynsecBrokerControl extends BrokerControl {
  private readonly pending = new Map<string, (response: DynsecResponse) => void>();
  private sequence = 0;
  private readonly outgoing: Array<DynsecCommand & { correlationData: string }> = [];
  private flushScheduled = false;
  /** The correlation ids of the message on the wire, until all are answered or it times out. */
  private inFlight: { readonly ids: Set<string>; readonly timer: NodeJS.Timeout } | null = null;
  private readonly prefix = `ccm-agent-${process.pid}-${Date.now().toString(36)}`;

  private constructor(
    private readonly client: MqttClient,
    private readonly timeoutMs: number,
  ) {
    super();
    client.on('message', (topic, payload) => {
      if (topic !== RESPONSE_TOPIC) return;
      let body: { responses?: DynsecResponse[] };
      try {
        body = JSON.parse(payload.toString('utf8')) as { responses?: DynsecResponse[] };
      } catch {
        return;
      }
      for (const response of body.responses ?? []) {
        const resolve = response.correlationData ? this.pending.get(response.correlationData) : undefined;
        if (resolve) {
          this.pending.delete(response.correlationData!);
          resolve(response);
        }
        if (response.correlationData) this.inFlight?.ids.delete(response.correlationData);
      }
      if (this.inFlight && this.inFlight.ids.size === 0) this.sendNext();
    });
  }

  /** Connects as the admin and subscribes to the answers; resolves once both are done. */
  static async connect(options: DynsecControlOptions): Promise<DynsecBrokerControl> {
    const client = mqtt.connect(options.url, {
      username: options.username,
      password: options.password,
      clientId: `ccm-mosquitto-agent-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: options.timeoutMs ?? 5000,
      protocolVersion: 4,
    });
    client.on('error', (error) => options.onConnectionError?.(error));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no connection to ${options.url} within ${options.timeoutMs ?? 5000} ms`)), options.timeoutMs ?? 5000);
        client.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        // A refused login (bad credentials) is final: mqtt.js would retry it forever.
        client.once('error', (error) => {
          if (LOGIN_REFUSED_CODES.has((error as { code?: unknown }).code)) {
            clearTimeout(timer);
            reject(new DynsecLoginRefusedError(options.url, error.message));
          }
        });
      });
      // mqtt.js renews this subscription on every reconnect (resubscribe defaults to true). QoS 0: an answer is
      // one write by the broker, and one lost with the connection is a timeout either way (clean session).
      await client.subscribeAsync(RESPONSE_TOPIC, { qos: 0 });
    } catch (error) {
      await client.endAsync(true).catch(() => undefined);
      throw error;
    }
    return new DynsecBrokerControl(client, options.timeoutMs ?? 5000);
  }

  get connected(): boolean {
    return this.client.connected;
  }

  async disableClients(usernames: readonly string[]): Promise<void> {
    await this.run(usernames.flatMap((username) => [
      { command: 'createClient', username, textname: AGENT_CLIENT_TEXTNAME },
      { command: 'disableClient', username },
    ]));
  }

  async releaseClients(usernames: readonly string[]): Promise<void> {
    const answers = await this.run(usernames.map((username) => ({ command: 'getClient', username })));
    await this.run(
      usernames.flatMap((username, index) => {
        const client = (answers[index]?.data as { client?: { textname?: unknown } } | undefined)?.client;
        if (!client) return [];
        return [{ command: client.textname === AGENT_CLIENT_TEXTNAME ? 'deleteClient' : 'enableClient', username }];
      }),
    );
  }

  /**
   * Every disabled client, from one verbose listClients (the whole list: its
   * count/offset paging is not stable while clients are added). Measured on
   * 2.0.11 with 20,000 clients: one 1 MB answer in ~50 ms.
   */
  async disabledClients(): Promise<ReadonlySet<string>> {
    const [response] = await this.run([{ command: 'listClients', verbose: true }]);
    const clients = (response?.data as { clients?: unknown } | undefined)?.clients;
    if (!Array.isArray(clients)) throw new DynsecCommandError([{ command: 'listClients', username: '', error: 'the answer holds no client list' }]);
    const disabled = new Set<string>();
    for (const client of clients as Array<{ username?: unknown; disabled?: unknown }>) if (client.disabled === true && typeof client.username === 'string') disabled.add(client.username);
    return disabled;
  }

  /**
   * One command round trip (getDefaultACLAccess). Mosquitto applies a pending
   * SIGHUP at the end of the loop iteration in which it wakes, so once this
   * answers, a reload signalled before the call has been applied and any
   * later connection is checked against the new CRL.
   */
  async roundTrip(): Promise<void> {
    if (!this.client.connected) throw new Error('the admin connection to Mosquitto is down');
    await this.run([{ command: 'getDefaultACLAccess' }]);
  }

  /**
   * Two round trips, the second sent once the first is answered. Mosquitto
   * answers a command in the loop iteration that reads it and runs a pending
   * reload at the end of that iteration, so the first answer can precede the
   * reload signalled before it; the second is read in a later iteration.
   */
  async settled(): Promise<void> {
    await this.roundTrip();
    await this.roundTrip();
  }

  async close(): Promise<void> {
    if (this.inFlight) clearTimeout(this.inFlight.timer);
    this.inFlight = null;
    for (const [id, resolve] of this.pending) resolve({ command: '?', correlationData: id, error: 'agent closing' });
    this.pending.clear();
    await this.client.endAsync(true).catch(() => undefined);
  }

  /**
   * Queues the commands for the next message and waits for every answer.
   * Commands queued in the same turn of the event loop, or while the previous
   * message is being answered, go out as one message (the plugin runs a
   * message's commands in order, answering each in one response), so a burst
   * of kicks is one round trip, not one per device.
   */
  private async run(commands: readonly DynsecCommand[]): Promise<DynsecResponse[]> {
    if (commands.length === 0) return [];
    const tagged = commands.map((command) => ({ ...command, correlationData: `${this.prefix}-${++this.sequence}` }));
    const answers = tagged.map(
      (command) =>
        new Promise<DynsecResponse>((resolve) => {
          this.pending.set(command.correlationData, resolve);
        }),
    );
    this.outgoing.push(...tagged);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from the dynamic-security plugin within ${this.timeoutMs} ms (${commands.length} commands)`)), this.timeoutMs);
    });
    try {
      const responses = await Promise.race([Promise.all(answers), timeout]);
      const failures = responses
        .map((response, index) => ({ command: tagged[index]!.command, username: tagged[index]!.username ?? '', error: response.error }))
        .filter((r): r is { command: string; username: string; error: string } => typeof r.error === 'string' && r.error !== HARMLESS_ERRORS[r.command]);
      if (failures.length > 0) throw new DynsecCommandError(failures);
      return responses;
    } finally {
      clearTimeout(timer);
      for (const command of tagged) this.pending.delete(command.correlationData);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.inFlight) return; // sent when the message on the wire is answered
    const batch = this.outgoing.splice(0);
    if (batch.length === 0) return;
    // Past the timeout its callers have given up; the next message must not wait for it any longer.
    const timer = setTimeout(() => this.sendNext(), this.timeoutMs);
    timer.unref();
    this.inFlight = { ids: new Set(batch.map((command) => command.correlationData)), timer };
    // mqtt.js queues QoS 0 messages too while the admin connection is down and sends them when it is back; a failed
    // publish leaves the callers to their timeout.
    this.client.publish(CONTROL_TOPIC, JSON.stringify({ commands: batch }), { qos: 0 }, () => undefined);
  }

  private sendNext(): void {
    if (this.inFlight) clearTimeout(this.inFlight.timer);
    this.inFlight = null;
    this.flush();
  }
}
