import type { Knex } from 'knex';

/** The cursor of a newest-first page: "<created_at ms>:<id>" of its last row. */
export const PAGE_CURSOR = /^(\d{1,16}):([0-9a-f-]{36})$/;

/** A row ordered by its creation time in epoch milliseconds, then its id. */
export type TimeOrderedRow = { created_at: number | string; id: string };

/**
 * The rows of `query` after the cursor `before`, newest first by
 * (created_at, id): `limit + 1` of them at most, so the caller can tell
 * whether another page follows. An absent or malformed cursor starts at the
 * newest row (routers refuse malformed cursors before this).
 */
export async function rowsAfterCursor<Row extends TimeOrderedRow>(
  query: Knex.QueryBuilder,
  before: string | undefined,
  limit: number,
): Promise<Row[]> {
  const cursor = before ? PAGE_CURSOR.exec(before) : null;
  let q = query;
  if (cursor) {
    const createdAt = Number(cursor[1]);
    const id = cursor[2];
    q = q.where(inner =>
      inner
        .where('created_at', '<', createdAt)
        .orWhere(same =>
          same.where('created_at', '=', createdAt).andWhere('id', '<', id),
        ),
    );
  }
  return q
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit + 1);
}

/** One page of `rows` (from {@link rowsAfterCursor}) and the cursor of the next. */
export function pageOf<Row extends TimeOrderedRow, Item>(
  rows: Row[],
  limit: number,
  toItem: (row: Row) => Item,
): { items: Item[]; nextCursor?: string } {
  const last = rows.length > limit ? rows[limit - 1] : undefined;
  return {
    items: rows.slice(0, limit).map(toItem),
    nextCursor: last ? `${Number(last.created_at)}:${last.id}` : undefined,
  };
}
