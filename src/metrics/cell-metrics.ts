/**
 * Counters and histograms for the hot paths, read by a prom-client Registry
 * at scrape time. prom-client's own Counter and Histogram rebuild and hash
 * the label set on every observation, through a bound child too (about a
 * microsecond per histogram observation, measured): here each label set is
 * a cell, looked up once by the caller and kept, and an observation is a few
 * additions on it, with no allocation. The Registry reads them through
 * get(), in the same shape as its own metrics, so formatting, label
 * escaping and cluster aggregation are prom-client's.
 */
import type { Metric, Registry } from 'prom-client';

/** What prom-client's Registry reads from a metric's get(), as its own Counter and Histogram give it. */
export interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  readonly values: readonly { readonly labels: Readonly<Record<string, string | number>>; readonly value: number; readonly metricName?: string }[];
}

interface Definition<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly registers: readonly Registry[];
}

type Labels = Record<string, string>;

export class CounterCell {
  value = 0;

  constructor(readonly labels: Labels) {}

  inc(amount = 1): void {
    this.value += amount;
  }
}

export class HistogramCell {
  count = 0;
  sum = 0;
  /** Observations per bucket, not cumulative; the last one is above every bound (+Inf). */
  readonly counts: Float64Array;

  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let bucket = 0;
    while (bucket < this.bounds.length && value > this.bounds[bucket]!) bucket++;
    this.counts[bucket]! += 1;
    this.count += 1;
    this.sum += value;
  }
}

abstract class CellMetric<L extends string, C> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum' as const;
  private readonly labelNames: readonly L[];
  private readonly cells = new Map<string, C>();

  protected constructor(definition: Definition<L>) {
    this.name = definition.name;
    this.help = definition.help;
    this.labelNames = definition.labelNames;
    for (const registry of definition.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The cell of these label values (in labelNames' order), created at 0 on first use: keep it, do not look it up per call. */
  cell(...values: string[]): C {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name} takes ${this.labelNames.length} label values, not ${values.length}`);
    const key = values.join('\u0000');
    let cell = this.cells.get(key);
    if (!cell) {
      const labels: Labels = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]!));
      this.cells.set(key, (cell = this.create(labels)));
    }
    return cell;
  }

  protected abstract create(labels: Labels): C;

  protected get allCells(): Iterable<C> {
    return this.cells.values();
  }
}

export class CellCounter<L extends string> extends CellMetric<L, CounterCell> {
  readonly type = 'counter' as const;

  constructor(definition: Definition<L>) {
    super(definition);
  }

  protected create(labels: Labels): CounterCell {
    return new CounterCell(labels);
  }

  async get(): Promise<MetricSnapshot> {
    const values = [...this.allCells].map((cell) => ({ labels: cell.labels, value: cell.value }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export class CellHistogram<L extends string> extends CellMetric<L, HistogramCell> {
  readonly type = 'histogram' as const;
  private readonly bounds: readonly number[];

  constructor(definition: Definition<L> & { readonly buckets: readonly number[] }) {
    super(definition);
    this.bounds = [...definition.buckets].sort((a, b) => a - b);
  }

  protected create(labels: Labels): HistogramCell {
    return new HistogramCell(labels, this.bounds);
  }

  async get(): Promise<MetricSnapshot> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const cell of this.allCells) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += cell.counts[i]!;
        values.push({ labels: { le: bound, ...cell.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...cell.labels }, value: cell.count, metricName: `${this.name}_bucket` });
      values.push({ labels: cell.labels, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels: cell.labels, value: cell.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
