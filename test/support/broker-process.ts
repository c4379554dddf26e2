/**
 * What the broker harnesses (mosquitto.ts, rabbitmq.ts, nats.ts) share
 * about the broker process they start: probing loopback ports, waiting
 * until the started broker is ready (failing at once when it exits
 * instead), and stopping it (SIGTERM, then SIGKILL).
 */
import type { ChildProcess } from 'node:child_process';
import { connect as connectTcp, createServer } from 'node:net';

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function tcpReachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Whether 127.0.0.1:`port` can be listened on now. */
export function portBindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Polls `ready` every `intervalMs` until it holds; throws when `child` exits first or `timeoutMs` passes. */
export async function waitUntil(child: ChildProcess, what: string, timeoutMs: number, ready: () => Promise<boolean>, intervalMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isRunning(child)) throw new Error(`exited (${child.exitCode ?? child.signalCode}) while waiting until ${what}`);
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs / 1000} s in vain until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** SIGTERM, SIGKILL when it has not exited after `killAfterMs`; resolves once it has exited (at once when it had). */
export async function terminate(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  await exited;
  clearTimeout(timer);
}
