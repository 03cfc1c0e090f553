export {
  parseServiceSpec,
  ANNOTATION_KUBERNETES_ID,
  MAX_REPLICAS,
  MAX_SERVICE_NAME_LENGTH,
} from './parseServiceSpec';
export { resolveManifestLocation } from './resolveManifestLocation';
export { isDnsLabel, isLabelValue, MAX_LABEL_LENGTH } from './kubernetesNames';
export type { IngressRef, ServiceSpec } from './types';
