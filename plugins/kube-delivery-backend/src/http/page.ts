import { InputError } from '@backstage/errors';
import { PAGE_CURSOR } from '../database/newestFirstPage';

/** The largest page any list endpoint serves. */
export const MAX_PAGE = 100;
const DEFAULT_PAGE = 20;

/**
 * `limit` and `before` of a newest-first page, read by one rule for every
 * list endpoint: a limit of 1 to 100 in plain digits (Number() would also
 * take "1e1", " 10" or "0x10"), default 20; a cursor from an earlier page.
 */
export function readPage(query: { limit?: string; before?: string }): {
  limit: number;
  before?: string;
} {
  const limit = query.limit === undefined ? DEFAULT_PAGE : Number(query.limit);
  if (
    (query.limit !== undefined && !/^\d{1,3}$/.test(query.limit)) ||
    limit < 1 ||
    limit > MAX_PAGE
  ) {
    throw new InputError(`limit must be an integer from 1 to ${MAX_PAGE}`);
  }
  if (query.before !== undefined && !PAGE_CURSOR.test(query.before)) {
    throw new InputError(
      'before must be a nextCursor value from an earlier page',
    );
  }
  return { limit, before: query.before };
}
