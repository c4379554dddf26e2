/** The whole event feed of a ccm under test, read page by page through GET /v1/events as the administrator. */
import type { CcmUnderTest } from './ccm-under-test.js';

export async function readWholeFeed<T>(ccm: CcmUnderTest): Promise<T[]> {
  const events: T[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { items: T[]; nextCursor: string | null } = (await ccm.api().get('/v1/events').query({ limit: 1000, ...(after ? { after } : {}) }).expect(200)).body;
    events.push(...page.items);
    if (page.items.length < 1000) return events;
    after = page.nextCursor;
  }
}
