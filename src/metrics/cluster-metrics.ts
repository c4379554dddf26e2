/**
 * Metrics under CCM_WORKERS > 1 (node:cluster): each worker counts in its own
 * registry, and only the primary listens on the metrics port. A scrape asks
 * every worker whose application is up for its metrics over the cluster's
 * IPC channel and answers their aggregate (prom-client's
 * AggregatorRegistry.aggregate: counters and histograms add up; each gauge
 * says how, e.g. the outbox gauges take the largest). A worker's own
 * listener would share the port with the others, and each scrape would
 * then see one worker at random.
 *
 * Not prom-client's clusterMetrics(): it asks every connected worker, and a
 * worker still loading its modules drops the question, which fails every
 * scrape for 5 s while a worker starts or is replaced. Here a worker is
 * asked only once it has said it is ready.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, prometheusContentType, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { Exposition } from './metrics-listener.js';

const READY = 'ccm:metrics-ready';
const REQUEST = 'ccm:metrics-request';
const RESPONSE = 'ccm:metrics-response';
/** A ready worker that does not answer within this fails the scrape: a partial sum would look like counter resets. */
const ANSWER_TIMEOUT_MS = 5000;

type Metrics = MetricObjectWithValues<MetricValue<string>>[];

interface Request {
  readonly type: typeof REQUEST;
  readonly id: number;
}

interface Response {
  readonly type: typeof RESPONSE;
  readonly id: number;
  readonly metrics?: Metrics;
  readonly error?: string;
}

function isMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}

/** In a worker whose application is up: answer the primary's questions with this registry. */
export function shareWithPrimary(registry: Registry): void {
  process.on('message', (message: unknown) => {
    if (!isMessage<Request>(message, REQUEST)) return;
    registry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ type: RESPONSE, id: message.id, metrics } satisfies Response),
      (error: unknown) => process.send?.({ type: RESPONSE, id: message.id, error: error instanceof Error ? error.message : String(error) } satisfies Response),
    );
  });
  process.send?.({ type: READY });
}

/** In the primary: what a scrape answers, gathered from every ready worker at the time of the scrape. */
export function clusterExposition(): Exposition {
  const ready = new Set<Worker>();
  const waiting = new Map<number, { readonly worker: Worker; readonly settle: (response: Response) => void }>();
  let nextId = 0;
  cluster.on('message', (worker, message: unknown) => {
    if (isMessage<{ type: typeof READY }>(message, READY)) ready.add(worker);
    else if (isMessage<Response>(message, RESPONSE)) {
      const pending = waiting.get(message.id);
      if (pending?.worker === worker) pending.settle(message);
    }
  });
  cluster.on('exit', (worker) => ready.delete(worker));

  const ask = (worker: Worker): Promise<Metrics> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`worker ${worker.process.pid} did not answer for its metrics within ${ANSWER_TIMEOUT_MS} ms`));
      }, ANSWER_TIMEOUT_MS);
      waiting.set(id, {
        worker,
        settle: (response) => {
          clearTimeout(timer);
          waiting.delete(id);
          if (response.metrics) resolve(response.metrics);
          else reject(new Error(`worker ${worker.process.pid} could not gather its metrics: ${response.error ?? 'no answer'}`));
        },
      });
      worker.send({ type: REQUEST, id } satisfies Request);
    });

  return {
    contentType: prometheusContentType,
    text: async () => {
      const answers = await Promise.all([...ready].filter((worker) => worker.isConnected()).map(ask));
      return AggregatorRegistry.aggregate(answers).metrics();
    },
  };
}
