import type { ReleaseDetail } from '@internal/plugin-kube-delivery-common';
import { stringify } from 'yaml';
import type { ServiceSpec } from '../catalog';
import type { ReleaseRecord } from '../database';
import { parseYamlDocuments } from '../manifests/yaml';

/** What stands in for every value of a Secret's data and stringData. */
export const REDACTED = '(redacted)';

type KubeObject = {
  kind?: unknown;
  data?: unknown;
  stringData?: unknown;
};

/** A Secret with its keys kept and every value replaced. */
function redactSecret(object: KubeObject): KubeObject {
  if (object?.kind !== 'Secret') return object;
  const redacted: KubeObject = { ...object };
  for (const field of ['data', 'stringData'] as const) {
    const values = object[field];
    if (values && typeof values === 'object') {
      redacted[field] = Object.fromEntries(
        Object.keys(values).map(key => [key, REDACTED]),
      );
    }
  }
  return redacted;
}

/**
 * A release as `GET …/releases/:id` shows it: its delivery settings and its
 * manifest re-serialised one document after another (so a diff shows changes,
 * not formatting), with Secret values redacted. The snapshot was validated
 * when the release was created; it is parsed with the same limits again.
 */
export function toReleaseDetail(release: ReleaseRecord): ReleaseDetail {
  const { snapshot, ...view } = release;
  const spec = snapshot.spec as unknown as ServiceSpec;
  const manifest =
    snapshot.manifest === undefined
      ? undefined
      : parseYamlDocuments(snapshot.manifest)
          .map(doc => stringify(redactSecret(doc.data as KubeObject)))
          .join('---\n');
  return {
    ...view,
    settings: {
      image: spec.image,
      strategy: spec.strategy,
      replicas: spec.replicas,
      antiAffinity: spec.antiAffinity,
      ...(spec.routing && {
        routing: `${spec.routing.kind}:${spec.routing.name}`,
      }),
      ...(spec.ingress && {
        ingress: `${spec.ingress.namespace}/${spec.ingress.name}`,
      }),
    },
    ...(manifest !== undefined && { manifest }),
  };
}
