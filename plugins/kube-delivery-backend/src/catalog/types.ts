import type {
  AntiAffinity,
  DeploymentStrategy,
  RoutingKey,
} from '@internal/plugin-kube-delivery-common';

/** A Gateway a public service is bound to. */
export interface IngressRef {
  namespace: string;
  name: string;
}

/** A catalog entity's delivery settings, validated. */
export interface ServiceSpec {
  entityRef: string;
  /** The entity name: an RFC 1123 label of at most 45 characters, starting with a letter. */
  name: string;
  /** Image repository without tag or digest. */
  image: string;
  /** Other repositories a release may name (`kube-delivery.io/image-repositories`). */
  imageRepositories?: string[];
  /** The raw, validated `kube-delivery.io/manifest` annotation. */
  manifest?: string;
  strategy: DeploymentStrategy;
  replicas: number;
  antiAffinity: AntiAffinity;
  routing?: RoutingKey;
  ingress?: IngressRef;
  /** `backstage.io/kubernetes-id` when valid, else the entity name. */
  kubernetesId: string;
  /** `mount` when the entity asks for its ServiceAccount token in its pods; absent: none mounted. */
  serviceAccountToken?: 'mount';
  /** Gateway hosts the service serves (`kube-delivery.io/hosts`); absent: every host its environment's gateway offers. */
  hosts?: string[];
}
