/**
 * A strict reader of Prometheus' text exposition format (version 0.0.4), as
 * a scraper holds ccm's /metrics to it: every family has its # HELP and
 * # TYPE before its first sample and its samples together; names and label
 * names are legal; label values are quoted with only \\, \" and \n escaped;
 * no series appears twice; histogram buckets are cumulative and end at +Inf
 * with the _count. Anything else throws, naming the line.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export class Exposition {
  private constructor(readonly families: ReadonlyMap<string, Family>) {}

  static parse(text: string): Exposition {
    if (!text.endsWith('\n')) throw new Error('the exposition does not end with a line feed');
    const families = new Map<string, Family>();
    const helps = new Map<string, string>();
    const closed = new Set<string>();
    const series = new Set<string>();
    let current: Family | null = null;
    const lines = text.slice(0, -1).split('\n');
    lines.forEach((line, index) => {
      const where = `line ${index + 1} (${JSON.stringify(line.slice(0, 120))})`;
      if (line === '') return;
      if (line.startsWith('#')) {
        const help = /^# HELP ([^ ]+) (.*)$/.exec(line);
        const type = /^# TYPE ([^ ]+) ([a-z]+)$/.exec(line);
        if (help) {
          const [, name, escaped] = help as unknown as [string, string, string];
          if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name`);
          if (helps.has(name)) throw new Error(`${where}: a second HELP for ${name}`);
          if (/\\[^\\n]|\\$/.test(escaped.replace(/\\\\/g, ''))) throw new Error(`${where}: HELP escapes only \\\\ and \\n`);
          helps.set(name, escaped.replace(/\\(\\|n)/g, (_all, c: string) => (c === 'n' ? '\n' : '\\')));
          return;
        }
        if (type) {
          const [, name, kind] = type as unknown as [string, string, string];
          if (!TYPES.has(kind as MetricType)) throw new Error(`${where}: unknown type ${kind}`);
          if (families.has(name)) throw new Error(`${where}: a second TYPE for ${name}`);
          if (!helps.has(name)) throw new Error(`${where}: TYPE of ${name} without a HELP before it`);
          if (current) closed.add(current.name);
          current = { name, help: helps.get(name)!, type: kind as MetricType, samples: [] };
          families.set(name, current);
          return;
        }
        throw new Error(`${where}: a comment that is neither HELP nor TYPE`);
      }
      const sample = parseSample(line, where);
      const family = familyOf(sample.name, families);
      if (!family) throw new Error(`${where}: sample of ${sample.name} before its HELP and TYPE`);
      if (family !== current || closed.has(family.name)) throw new Error(`${where}: samples of ${family.name} are not together`);
      const key = `${sample.name}{${Object.entries(sample.labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
      if (series.has(key)) throw new Error(`${where}: series ${key} appears twice`);
      series.add(key);
      family.samples.push(sample);
    });
    for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
    return new Exposition(families);
  }

  family(name: string): Family {
    const family = this.families.get(name);
    if (!family) throw new Error(`no metric family ${name}`);
    return family;
  }

  /** The value of the sample `name` with exactly these labels; 0 when the series does not exist (yet). */
  value(name: string, labels: Record<string, string> = {}): number {
    const family = familyOf(name, this.families);
    if (!family) throw new Error(`no metric family for ${name}`);
    const wanted = Object.entries(labels);
    const sample = family.samples.find((s) => s.name === name && Object.keys(s.labels).length === wanted.length && wanted.every(([k, v]) => s.labels[k] === v));
    return sample?.value ?? 0;
  }

  /** The sum of the samples `name` whose labels include these (any others allowed). */
  sum(name: string, labels: Record<string, string> = {}): number {
    const family = familyOf(name, this.families);
    if (!family) throw new Error(`no metric family for ${name}`);
    const wanted = Object.entries(labels);
    return family.samples.filter((s) => s.name === name && wanted.every(([k, v]) => s.labels[k] === v)).reduce((total, s) => total + s.value, 0);
  }
}

function familyOf(sampleName: string, families: ReadonlyMap<string, Family>): Family | undefined {
  const exact = families.get(sampleName);
  if (exact) return exact;
  const suffix = /^(.*)_(bucket|sum|count)$/.exec(sampleName);
  if (!suffix) return undefined;
  const family = families.get(suffix[1]!);
  if (!family) return undefined;
  if (family.type === 'histogram') return family;
  if (family.type === 'summary' && suffix[2] !== 'bucket') return family;
  return undefined;
}

function parseSample(line: string, where: string): Sample {
  const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!head) throw new Error(`${where}: no metric name`);
  const name = head[1]!;
  let position = name.length;
  const labels: Record<string, string> = {};
  if (line[position] === '{') {
    position += 1;
    while (line[position] !== '}') {
      const labelName = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(position));
      if (!labelName || !LABEL_NAME.test(labelName[1]!)) throw new Error(`${where}: bad label at column ${position}`);
      position += labelName[0].length;
      let value = '';
      for (;;) {
        const c = line[position];
        if (c === undefined) throw new Error(`${where}: unterminated label value`);
        if (c === '"') break;
        if (c === '\\') {
          const next = line[position + 1];
          if (next === '\\') value += '\\';
          else if (next === '"') value += '"';
          else if (next === 'n') value += '\n';
          else throw new Error(`${where}: bad escape \\${next ?? ''} in a label value`);
          position += 2;
          continue;
        }
        value += c;
        position += 1;
      }
      position += 1;
      if (labelName[1]! in labels) throw new Error(`${where}: label ${labelName[1]} twice`);
      labels[labelName[1]!] = value;
      if (line[position] === ',') position += 1;
      else if (line[position] !== '}') throw new Error(`${where}: expected , or } at column ${position}`);
    }
    position += 1;
  }
  const rest = /^ (\S+)(?: (-?\d+))?$/.exec(line.slice(position));
  if (!rest) throw new Error(`${where}: expected " value [timestamp]"`);
  return { name, labels, value: parseValue(rest[1]!, where) };
}

/** As Prometheus reads a value (Go's strconv.ParseFloat): NaN and Inf in any case; prom-client writes NaN as "Nan". */
function parseValue(text: string, where: string): number {
  if (/^nan$/i.test(text)) return Number.NaN;
  if (/^\+?inf$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (/^-inf$/i.test(text)) return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value ${text}`);
  return Number(text);
}

function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: { le: number; value: number }[]; count?: number; sum?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (sample.name === `${family.name}_bucket`) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      group.buckets.push({ le: parseValue(le, family.name), value: sample.value });
    } else if (sample.name === `${family.name}_count`) group.count = sample.value;
    else if (sample.name === `${family.name}_sum`) group.sum = sample.value;
    else throw new Error(`${family.name}: unexpected sample ${sample.name}`);
  }
  for (const [key, group] of groups) {
    if (group.count === undefined || group.sum === undefined) throw new Error(`${family.name}${key}: no _count or _sum`);
    const last = group.buckets[group.buckets.length - 1];
    if (!last || last.le !== Number.POSITIVE_INFINITY) throw new Error(`${family.name}${key}: buckets do not end at +Inf`);
    if (last.value !== group.count) throw new Error(`${family.name}${key}: the +Inf bucket is not the _count`);
    for (let i = 1; i < group.buckets.length; i++) {
      if (!(group.buckets[i]!.le > group.buckets[i - 1]!.le)) throw new Error(`${family.name}${key}: bucket bounds not increasing`);
      if (group.buckets[i]!.value < group.buckets[i - 1]!.value) throw new Error(`${family.name}${key}: buckets not cumulative`);
    }
  }
}
