export { parseManifest } from './parse';
export {
  BUILT_IN_PLACEHOLDERS,
  placeholderValues,
  substituteInTree,
  substitutePlaceholders,
} from './placeholders';
export { ANNOTATION_SMOKE_TEST, checkManifestObjects } from './validate';
export { MAX_DOCUMENTS, MAX_MANIFEST_BYTES, MAX_NESTING_DEPTH } from './yaml';
export * from './render';
export type {
  EnvironmentTarget,
  ManifestObjects,
  RenderedRelease,
  RenderInput,
} from './types';
