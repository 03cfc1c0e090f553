import { InputError } from '@backstage/errors';

type FieldRule = 'required' | 'optional';
const MAX_FIELD_LENGTH = 256;

/**
 * Reads a JSON body (or query) of string fields: unknown fields, wrong types,
 * control characters and oversized values are refused with a 400 naming the field.
 */
export function readBody<K extends string>(
  body: unknown,
  fields: Record<K, FieldRule>,
): Partial<Record<K, string>> {
  const input = body ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new InputError('The request body must be a JSON object');
  }
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(fields, key)) {
      throw new InputError(
        `Unknown field "${key.slice(0, 64)}"; allowed: ${Object.keys(fields).join(', ')}`,
      );
    }
  }
  const result: Partial<Record<K, string>> = {};
  for (const [key, rule] of Object.entries(fields) as Array<[K, FieldRule]>) {
    const value = record[key];
    if (value === undefined || value === '') {
      if (rule === 'required') throw new InputError(`Field "${key}" is required`);
      continue;
    }
    if (typeof value !== 'string') {
      throw new InputError(`Field "${key}" must be a string`);
    }
    if (value.length > MAX_FIELD_LENGTH) {
      throw new InputError(`Field "${key}" is longer than ${MAX_FIELD_LENGTH} characters`);
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(value)) {
      throw new InputError(`Field "${key}" contains control characters`);
    }
    result[key] = value;
  }
  return result;
}
