import type { ManifestObjects } from './types';
import { checkManifestObjects } from './validate';
import { parseYamlDocuments } from './yaml';

/**
 * Parses and validates a service's own manifest (multi-document YAML).
 * Throws an InputError for unsafe YAML or objects a service may not ship.
 */
export function parseManifest(yamlText: string): ManifestObjects {
  return checkManifestObjects(parseYamlDocuments(yamlText));
}
