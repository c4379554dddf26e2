/**
 * The reload adapter: SIGHUP to the Mosquitto process, whose pid comes from
 * its pid file (read at every reload, so a restarted broker is found) or a
 * fixed number. A missing pid file or a dead pid is not an error: a broker
 * that is not running reads the crlfile when it starts.
 */
import { readFile } from 'node:fs/promises';
import { BrokerReloader } from './ports.js';

export type PidLocation = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'pid'; readonly pid: number };

export class SighupReloader extends BrokerReloader {
  constructor(
    private readonly location: PidLocation,
    private readonly signal: (pid: number, signal: NodeJS.Signals | 0) => void = (pid, signal) => process.kill(pid, signal),
  ) {
    super();
  }

  async runningPid(): Promise<number | null> {
    const pid = await this.pid();
    if (pid === null) return null;
    try {
      this.signal(pid, 0); // no signal sent: only whether the process exists
      return pid;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') return null;
      if (code === 'EPERM') return pid; // it exists, under another user; reload() will say if it cannot be signalled
      throw error;
    }
  }

  async reload(): Promise<number | null> {
    const pid = await this.pid();
    if (pid === null) return null;
    try {
      this.signal(pid, 'SIGHUP');
      return pid;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return null;
      throw error;
    }
  }

  private async pid(): Promise<number | null> {
    if (this.location.kind === 'pid') return this.location.pid;
    let text: string;
    try {
      text = await readFile(this.location.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid < 2) throw new Error(`pid file ${this.location.path} does not hold a pid: "${text.trim().slice(0, 40)}"`);
    return pid;
  }
}
