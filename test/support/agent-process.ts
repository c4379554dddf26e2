/**
 * A broker agent as operators run it, for the e2e tests and the benches: a
 * child process of a package's built bin (packages/<name>/dist/src/main.js;
 * `npx tsc -p packages/<name>` or the root build makes it) with the
 * environment given and nothing inherited but PATH, its JSON log lines
 * (stderr) collected as they come. start() resolves once the core has
 * logged "<broker> agent running", i.e. after the first reconciliation.
 *
 * The health endpoint listens on a port the system picks
 * (CCM_AGENT_HEALTH_LISTEN=127.0.0.1:0) unless the environment says
 * otherwise, so agents of parallel tests never collide; healthPort reads
 * the port back from the "running" line.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** The agent packages under packages/, by directory name. */
export type AgentPackage = 'mosquitto-agent' | 'rabbitmq-agent' | 'nats-agent';

export type AgentLogLine = Record<string, unknown>;

/** The built bin of an agent package. */
export function agentMain(agentPackage: AgentPackage): string {
  return new URL(`../../../packages/${agentPackage}/dist/src/main.js`, import.meta.url).pathname;
}

export interface AgentStartOptions {
  /** The msg of the core's "running" line; by default "<broker> agent running" for a package "<broker>-agent". */
  readonly runningMessage?: string;
  /** How long to wait for it (ms). */
  readonly timeoutMs?: number;
}

export class AgentProcess {
  readonly lines: AgentLogLine[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly runningMessage: string,
  ) {}

  /** Starts `bin` (a package name, or the path of a main.js) and waits for its "running" line. */
  static async start(bin: AgentPackage | string, env: Record<string, string>, options: AgentStartOptions = {}): Promise<AgentProcess> {
    const isPackage = !bin.includes('/');
    const main = isPackage ? agentMain(bin as AgentPackage) : bin;
    const runningMessage = options.runningMessage ?? (isPackage ? `${bin.replace(/-agent$/, '')} agent running` : null);
    if (runningMessage === null) throw new Error(`AgentProcess.start(${bin}): say which log line means the agent is running (options.runningMessage)`);
    const child = spawn(process.execPath, [main], { env: { PATH: process.env['PATH'] ?? '', CCM_AGENT_HEALTH_LISTEN: '127.0.0.1:0', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    const agent = new AgentProcess(child, runningMessage);
    let buffered = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          agent.lines.push(JSON.parse(line) as AgentLogLine);
        } catch {
          agent.lines.push({ msg: line });
        }
      }
    });
    await agent.waitFor((line) => line['msg'] === runningMessage, options.timeoutMs ?? 30_000);
    return agent;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The health endpoint's port, from the core's "running" line. */
  get healthPort(): number {
    const running = this.lines.find((line) => line['msg'] === this.runningMessage);
    const port = Number(String(running?.['health'] ?? '').split(':').at(-1));
    if (!Number.isInteger(port) || port <= 0) throw new Error('the agent has not said where its health endpoint listens');
    return port;
  }

  /** GET /metrics of the agent, as Prometheus text. */
  async metrics(): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.healthPort}/metrics`);
    return response.text();
  }

  /** Resolves the first line from index `from` on (all lines by default) that matches; rejects when the agent exits or the time is up. */
  waitFor(predicate: (line: AgentLogLine) => boolean, timeoutMs = 15_000, from = 0): Promise<AgentLogLine> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.lines.slice(from).find(predicate);
        if (found) return resolve(found);
        if (!this.running) return reject(new Error(`agent exited with ${this.child.exitCode ?? this.child.signalCode}: ${JSON.stringify(this.lines.slice(-5))}`));
        if (Date.now() > deadline) return reject(new Error(`agent log never showed it: ${JSON.stringify(this.lines.slice(-5))}`));
        setTimeout(check, 20);
      };
      check();
    });
  }

  /** SIGKILL: the agent gets no chance to finish anything (a crash, an OOM kill). */
  async kill(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM (SIGKILL after 10 s); resolves the exit code, null when it ended by a signal. */
  async stop(): Promise<number | null> {
    if (!this.running) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}
