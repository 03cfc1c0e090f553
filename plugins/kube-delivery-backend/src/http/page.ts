import { InputError } from '@backstage/errors';
import { PAGE_CURSOR } from '../database/newestFirstPage';

/** The largest page any list endpoint serves. */
export const MAX_PAGE = 100;
const DEFAULT_PAGE = 20;

/**
 * `limit` and `before` of a newest-first page, as every list endpoint reads
 * them: the spec bounds the limit (default 20); the cursor must be one an
 * earlier page gave.
 */
export function readPage(query: { limit?: number; before?: string }): {
  limit: number;
  before?: string;
} {
  if (query.before !== undefined && !PAGE_CURSOR.test(query.before)) {
    throw new InputError(
      'before must be a nextCursor value from an earlier page',
    );
  }
  return { limit: query.limit ?? DEFAULT_PAGE, before: query.before };
}
