import { InputError } from '@backstage/errors';
import { Composer, type CST, Parser } from 'yaml';

export const MAX_MANIFEST_BYTES = 256 * 1024;
export const MAX_NESTING_DEPTH = 64;
export const MAX_DOCUMENTS = 20;
/** yaml's alias budget: bounds how far anchors can multiply the data (alias bombs). */
const MAX_ALIAS_COUNT = 50;
/** Values in the whole stream after aliases are expanded. */
const MAX_VALUES = 100_000;
/** Documents including empty ones (`---` runs), to bound the work. */
const MAX_RAW_DOCUMENTS = 100;

const COLLECTIONS = new Set(['block-map', 'block-seq', 'flow-collection']);

function manifestError(reason: string): InputError {
  return new InputError(`Manifest is not acceptable YAML: ${reason}`);
}

/** One non-empty document of a YAML stream. */
export interface YamlDocument {
  /** 1-based position in the stream, for error messages. */
  number: number;
  data: unknown;
}

/**
 * Walks the concrete syntax tree without recursion, before anything is
 * composed: rejects tags (`!custom`, `!!js/function`, even `!!str`),
 * directives (`%TAG`, `%YAML`), and nesting deeper than the cap, which would
 * otherwise exhaust the composer's stack.
 */
function checkSyntaxTree(tokens: CST.Token[]): void {
  const pending: Array<{ node: unknown; depth: number }> = tokens.map(node => ({
    node,
    depth: 0,
  }));
  while (pending.length > 0) {
    const { node, depth } = pending.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    const type = (node as { type?: unknown }).type;
    if (type === 'tag') {
      throw manifestError(
        `tags such as ${(node as CST.SourceToken).source} are not allowed`,
      );
    }
    if (type === 'directive')
      throw manifestError('directives (%TAG, %YAML) are not allowed');
    const childDepth = COLLECTIONS.has(type as string) ? depth + 1 : depth;
    if (childDepth > MAX_NESTING_DEPTH) {
      throw manifestError(`nesting deeper than ${MAX_NESTING_DEPTH} levels`);
    }
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) {
        for (const item of value)
          pending.push({ node: item, depth: childDepth });
      } else if (typeof value === 'object' && value !== null) {
        pending.push({ node: value, depth: childDepth });
      }
    }
  }
}

/**
 * Copies composed data into fresh plain objects (aliases share objects in
 * yaml's output), rejecting what JSON cannot carry and `__proto__` keys, and
 * counting values so that expanded aliases stay small.
 */
function toPlainData(root: unknown): unknown {
  let values = 0;
  const copy = (value: unknown, depth: number): unknown => {
    if (++values > MAX_VALUES)
      throw manifestError(`more than ${MAX_VALUES} values`);
    if (depth > MAX_NESTING_DEPTH) {
      throw manifestError(`nesting deeper than ${MAX_NESTING_DEPTH} levels`);
    }
    if (
      value === null ||
      typeof value === 'string' ||
      typeof value === 'boolean'
    )
      return value;
    if (typeof value === 'number') {
      if (!Number.isFinite(value))
        throw manifestError('.inf and .nan are not allowed');
      return value;
    }
    if (Array.isArray(value)) return value.map(item => copy(item, depth + 1));
    if (Object.getPrototypeOf(value) === Object.prototype) {
      const result: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value as object)) {
        if (key === '__proto__')
          throw manifestError('the key __proto__ is not allowed');
        result[key] = copy(item, depth + 1);
      }
      return result;
    }
    throw manifestError(`unsupported value of type ${typeof value}`);
  };
  return copy(root, 0);
}

/**
 * Parses multi-document YAML defensively: size cap, YAML 1.2 core schema only,
 * no tags or directives, unique keys, bounded nesting, aliases and documents.
 * Returns the non-empty documents as plain JSON data, numbered from 1 as in the text.
 */
export function parseYamlDocuments(text: string): YamlDocument[] {
  if (typeof text !== 'string') throw manifestError('it is not text');
  if (
    text.length > MAX_MANIFEST_BYTES ||
    Buffer.byteLength(text, 'utf8') > MAX_MANIFEST_BYTES
  ) {
    throw manifestError(`it is larger than ${MAX_MANIFEST_BYTES / 1024} KiB`);
  }
  const tokens = Array.from(new Parser().parse(text));
  checkSyntaxTree(tokens);

  const composer = new Composer({
    version: '1.2',
    schema: 'core',
    merge: false,
    uniqueKeys: true,
    strict: true,
    prettyErrors: false,
  });
  const documents = Array.from(composer.compose(tokens));
  const streamErrors = composer.streamInfo().errors;
  if (streamErrors.length > 0) throw manifestError(streamErrors[0].message);
  if (documents.length > MAX_RAW_DOCUMENTS) {
    throw manifestError(`more than ${MAX_RAW_DOCUMENTS} documents`);
  }

  const result: YamlDocument[] = [];
  documents.forEach((document, index) => {
    const problem = document.errors[0] ?? document.warnings[0];
    if (problem)
      throw manifestError(`document ${index + 1}: ${problem.message}`);
    let data: unknown;
    try {
      data = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      throw manifestError(`document ${index + 1}: ${(error as Error).message}`);
    }
    if (data === null) return; // an empty document
    result.push({ number: index + 1, data: toPlainData(data) });
  });
  if (result.length > MAX_DOCUMENTS) {
    throw manifestError(`more than ${MAX_DOCUMENTS} documents`);
  }
  return result;
}
