/**
 * The typed failures of the RabbitMQ adapter. Each one means the broker did
 * not (or may not have) done what was asked; the core retries the call with
 * backoff and never counts the device as enforced meanwhile.
 */

import { BrokerRefusedAgentError } from '@ccm/broker-agent';

export class RabbitMqAdapterError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Why a management API request failed. */
export type RabbitMqFailure = 'unreachable' | 'timeout' | 'status' | 'answer';

/**
 * A management API request that failed: the node could not be reached, did
 * not answer in time, answered with an error status, or with a body that is
 * not what the API documents. Names the request (method and path).
 */
export class RabbitMqRequestError extends RabbitMqAdapterError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly failure: RabbitMqFailure,
    /** The HTTP status, when there was an answer. */
    readonly status: number | null,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`RabbitMQ management ${method} ${path} ${status === null ? failure : `answered ${status}`}: ${detail}`, options);
  }
}

/** The agent's management user lacks what the adapter needs (the administrator tag). */
/** The agent's management user lacks the rights it needs: retrying cannot fix it, so the agent stops. */
export class RabbitMqPermissionError extends BrokerRefusedAgentError {}
