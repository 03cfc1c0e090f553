/**
 * Parameter schemas of the target rules, written out: a Standard Schema that
 * validates synchronously and converts to JSON Schema, as
 * `createPermissionRule` wants, without a schema library.
 */

/** `{ <key>: string[] }`: a non-empty list of non-empty strings, nothing else. */
export function stringListParams<K extends string>(
  key: K,
  description: string,
) {
  const jsonSchema = () => ({
    type: 'object',
    properties: {
      [key]: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        minItems: 1,
        description,
      },
    },
    required: [key],
    additionalProperties: false,
  });
  const validate = (value: unknown) => {
    const issue = (message: string) => ({ issues: [{ message }] });
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      return issue(`Expected an object with "${key}"`);
    }
    const record = value as Record<string, unknown>;
    const extra = Object.keys(record).filter(k => k !== key);
    if (extra.length > 0) {
      return issue(
        `Unknown parameter "${extra[0].slice(0, 64)}"; expected only "${key}"`,
      );
    }
    const list = record[key];
    if (
      !Array.isArray(list) ||
      list.length === 0 ||
      !list.every(item => typeof item === 'string' && item.length > 0)
    ) {
      return issue(`"${key}" must be a non-empty list of non-empty strings`);
    }
    return { value: { [key]: list } as Record<K, string[]> };
  };
  return standardSchema(jsonSchema, validate);
}

/** No parameters: absent or an empty object. */
export function noParams() {
  const jsonSchema = () => ({
    type: 'object',
    properties: {},
    additionalProperties: false,
  });
  const validate = (value: unknown) =>
    value === undefined ||
    (value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      Object.keys(value).length === 0)
      ? { value: undefined }
      : { issues: [{ message: 'This rule takes no parameters' }] };
  return standardSchema(jsonSchema, validate);
}

/** A Standard Schema of ours: the validation, and one JSON Schema for input and output. */
function standardSchema<V>(
  jsonSchema: () => Record<string, unknown>,
  validate: V,
) {
  return {
    '~standard': {
      version: 1 as const,
      vendor: 'kube-delivery',
      validate,
      jsonSchema: { input: jsonSchema, output: jsonSchema },
    },
  };
}
