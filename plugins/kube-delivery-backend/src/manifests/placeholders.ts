import { InputError } from '@backstage/errors';
import { quote } from '../catalog/annotationValues';
import { isRecord } from './validate';

/** Placeholders every manifest may use. */
export const BUILT_IN_PLACEHOLDERS = [
  'Environment',
  'Version',
  'FeatureBranch',
  'Namespace',
] as const;
export type BuiltInPlaceholder = (typeof BUILT_IN_PLACEHOLDERS)[number];

const VARIABLE_NAME = /^[A-Za-z][A-Za-z0-9_.]{0,63}$/;
/** `##{` is an escaped, literal `#{`; `#{Name}` is a placeholder. */
const PLACEHOLDER = /##\{|#\{([^{}]*)\}/g;

function allowedNames(values: Readonly<Record<string, string>>): string {
  return Object.keys(values)
    .sort()
    .map(name => `#{${name}}`)
    .join(', ');
}

/**
 * Replaces `#{Name}` placeholders in one string from `values`; nothing else is
 * evaluated, and substituted text is not scanned again. An unknown name is an
 * InputError listing the allowed ones.
 */
export function substitutePlaceholders(
  text: string,
  values: Readonly<Record<string, string>>,
): string {
  return text.replace(PLACEHOLDER, (match, name: string | undefined) => {
    if (match === '##{') return '#{';
    if (
      name !== undefined &&
      Object.prototype.hasOwnProperty.call(values, name)
    ) {
      return values[name];
    }
    throw new InputError(
      `Unknown placeholder ${quote(
        `#{${name}}`,
      )}; the allowed placeholders are ${allowedNames(values)}`,
    );
  });
}

/** Substitutes placeholders in every string value of a JSON tree; keys are never touched. */
export function substituteInTree<T>(
  value: T,
  values: Readonly<Record<string, string>>,
): T {
  if (typeof value === 'string')
    return substitutePlaceholders(value, values) as T;
  if (Array.isArray(value))
    return value.map(item => substituteInTree(item, values)) as T;
  if (isRecord(value)) {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value))
      result[key] = substituteInTree(item, values);
    return result as T;
  }
  return value;
}

/**
 * The placeholder values of a release in an environment: the built-ins plus
 * the environment's variables (built-ins win over a variable of the same name).
 */
export function placeholderValues(options: {
  environment: string;
  namespace: string;
  version: string;
  featureBranch?: string;
  variables?: Readonly<Record<string, string>>;
}): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.variables ?? {})) {
    if (!VARIABLE_NAME.test(name) || typeof value !== 'string') {
      throw new InputError(
        `Environment variable ${quote(
          name,
        )} must have a name of a letter then up to 63 letters, digits, '_' or '.', and a string value`,
      );
    }
    values[name] = value;
  }
  const builtIns: Record<BuiltInPlaceholder, string> = {
    Environment: options.environment,
    Version: options.version,
    FeatureBranch: options.featureBranch ?? '',
    Namespace: options.namespace,
  };
  return Object.assign(values, builtIns);
}
