/** Rendering a release as Kube Delivery applies it, for the bench scripts that apply with kubectl. */
import type { KubernetesObject } from '@kubernetes/client-node';
import fs from 'node:fs';
import path from 'node:path';
import type { EnvironmentConfig } from '../../plugins/kube-delivery-backend/src/config/environments';
import type { ReleaseRecord } from '../../plugins/kube-delivery-backend/src/database';
import { renderSnapshot } from '../../plugins/kube-delivery-backend/src/delivery';
import { workloadObjects } from '../../plugins/kube-delivery-backend/src/delivery/strategies/steps';

/** The objects Kube Delivery applies for a release in an environment, in its order (workload objects, then the Service). */
export function renderedObjects(
  release: ReleaseRecord,
  environment: EnvironmentConfig,
) {
  const { rendered } = renderSnapshot(release, environment);
  const objects: KubernetesObject[] = [
    ...workloadObjects(rendered),
    ...(rendered.service ? [rendered.service as KubernetesObject] : []),
  ];
  return { objects, workloadName: rendered.workloadName };
}

/** Writes objects as one JSON `List` file for `kubectl apply -f`. */
export function writeList(file: string, objects: KubernetesObject[]) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2),
  );
  return file;
}
