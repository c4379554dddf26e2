/**
 * Column conventions shared by every entity. Times are stored as ISO-8601 UTC
 * text (fixed width, so they sort and compare as text) because one schema has
 * to run unchanged on PostgreSQL and SQLite, which share no timestamp type.
 */
import type { ValueTransformer } from 'typeorm';

export const isoTimestamp: ValueTransformer = {
  to: (value: Date | null | undefined) => (value == null ? value : value.toISOString()),
  from: (value: string | null) => (value == null ? null : new Date(value)),
};

export const jsonText: ValueTransformer = {
  to: (value: unknown) => (value === undefined ? undefined : JSON.stringify(value)),
  from: (value: string | null) => (value == null ? null : JSON.parse(value)),
};

/** 64-bit counters: node-postgres returns BIGINT as a string; ccm's counters stay far below 2^53. */
export const counter: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value == null ? null : Number(value)),
};
