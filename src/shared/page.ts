/**
 * One page of a listing in id order, and the cursor to the next: every list
 * ccm serves (tenants, certificates, devices, audit entries) pages this way.
 */

export interface Page<T> {
  readonly items: readonly T[];
  /** Pass as `after` to get the next page; null on the last page. */
  readonly nextCursor: string | null;
}
