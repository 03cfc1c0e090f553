import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Batch } from './connection';

/** How much of a failed container's log a message carries. */
const TAIL_LINES = 20;
const LIMIT_BYTES = 4096;
/** Shorter secret values are not masked: they would mask ordinary words. */
const MIN_MASKED_LENGTH = 4;

const enc = encodeURIComponent;

/** The Secrets a pod's containers read: env `secretKeyRef`, `envFrom` and secret volumes. */
function secretNames(pod: V1Pod): string[] {
  const names = new Set<string>();
  const containers = [
    ...(pod.spec?.initContainers ?? []),
    ...(pod.spec?.containers ?? []),
  ];
  for (const container of containers) {
    for (const env of container.env ?? []) {
      const name = env.valueFrom?.secretKeyRef?.name;
      if (name) names.add(name);
    }
    for (const from of container.envFrom ?? []) {
      if (from.secretRef?.name) names.add(from.secretRef.name);
    }
  }
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.secret?.secretName) names.add(volume.secret.secretName);
    for (const source of volume.projected?.sources ?? []) {
      if (source.secret?.name) names.add(source.secret.name);
    }
  }
  return [...names];
}

/**
 * The last lines a failed container wrote, with the values of every Secret
 * the pod reads replaced by `[secret]`: a smoke test that prints its
 * credentials must not put them into the deployment history. Undefined when
 * the log or one of those Secrets cannot be read (fails closed), or the
 * container wrote nothing.
 */
export async function failedContainerLogTail(
  b: Batch,
  namespace: string,
  pod: V1Pod,
  container: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  try {
    const secrets = await Promise.all(
      secretNames(pod).map(name =>
        b.requestOrUndefined<V1Secret>({
          method: 'GET',
          path: `/api/v1/namespaces/${enc(namespace)}/secrets/${enc(name)}`,
          signal,
        }),
      ),
    );
    const body = await b.request<unknown>({
      method: 'GET',
      path: `/api/v1/namespaces/${enc(namespace)}/pods/${enc(
        pod.metadata!.name!,
      )}/log`,
      query: {
        container,
        tailLines: String(TAIL_LINES),
        limitBytes: String(LIMIT_BYTES),
      },
      signal,
    });
    let text = typeof body === 'string' ? body : JSON.stringify(body);
    const values = secrets
      .flatMap(secret => Object.values(secret?.data ?? {}))
      .flatMap(encoded => {
        const value = Buffer.from(encoded, 'base64').toString('utf8');
        return [value, value.trim(), encoded];
      })
      .filter(value => value.length >= MIN_MASKED_LENGTH)
      .sort((a, b2) => b2.length - a.length);
    for (const value of values) text = text.split(value).join('[secret]');
    text = text.trimEnd();
    return text || undefined;
  } catch {
    // Only an explanation: a deploy's outcome does not depend on it.
    return undefined;
  }
}
