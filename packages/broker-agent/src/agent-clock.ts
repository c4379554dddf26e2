/** Time, for the core's decisions and waits: tests drive it or shorten it. */
export abstract class AgentClock {
  abstract now(): Date;
  abstract sleep(ms: number): Promise<void>;
}

export class SystemAgentClock extends AgentClock {
  now(): Date {
    return new Date();
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}
