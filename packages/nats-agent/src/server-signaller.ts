/**
 * Asking nats-server to reload its configuration: SIGHUP to the pid read
 * from its pid_file at every reload (a restarted server has a new pid), the
 * same as `nats-server --signal reload=<pid>`. So the agent runs on the
 * server's host, as its user or root. ReloadSignaller is the port; the
 * unit tests put a fake server behind it.
 */
import { readFile } from 'node:fs/promises';
import { NatsServerNotRunningError, PidFileError, SignalNotPermittedError } from './errors.js';

export abstract class ReloadSignaller {
  /** Sends the reload signal; resolves once sent (not once applied: the adapter confirms that through /varz). */
  abstract signalReload(): Promise<void>;
  /** Throws unless the server process is alive. */
  abstract checkRunning(): Promise<void>;
}

export class PidFileSignaller extends ReloadSignaller {
  constructor(private readonly pidFile: string) {
    super();
  }

  async signalReload(): Promise<void> {
    this.send(await this.pid(), 'SIGHUP');
  }

  async checkRunning(): Promise<void> {
    this.send(await this.pid(), 0);
  }

  private async pid(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.pidFile, 'utf8');
    } catch (error) {
      throw new PidFileError(this.pidFile, `cannot be read (${(error as Error).message}); set pid_file in nats-server's configuration`, { cause: error });
    }
    const pid = Number(text.trim());
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(pid) || pid <= 1) throw new PidFileError(this.pidFile, `does not hold a process id (${JSON.stringify(text.trim().slice(0, 20))})`);
    return pid;
  }

  private send(pid: number, signal: NodeJS.Signals | 0): void {
    try {
      process.kill(pid, signal);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') throw new NatsServerNotRunningError(pid);
      if (code === 'EPERM') throw new SignalNotPermittedError(pid);
      throw error;
    }
  }
}
