import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { FAIL_AS_ANNOTATION } from '@internal/devcluster';
import { REPO_ROOT } from './backend';
import { kubectl } from './cluster';

const EXAMPLE_MANIFEST = path.join(
  REPO_ROOT,
  'examples/online-boutique/adservice/deploy.yaml',
);

/** How long a rollout of the e2e service takes at least (minReadySeconds). */
export const ROLLOUT_SECONDS = 8;

/** A catalog service written for one e2e run, with its own name so runs never share objects. */
export interface E2eService {
  name: string;
  /** The catalog file the test backend registers (a `file` location). */
  catalogFile: string;
  /** API path prefix of the entity, `/api/kube-delivery/entities/component/default/<name>`. */
  apiPath: string;
  /**
   * Changes the ConfigMap value GREETING in the manifest (initially "hello"):
   * releases created afterwards freeze the new manifest, so two releases differ.
   */
  setGreeting(greeting: string): void;
  /** Deletes what Kube Delivery created for it in dev, test and production, and the files. */
  remove(): Promise<void>;
}

/**
 * Online Boutique's adservice (the example's manifest: a Deployment, its
 * Service and a ConfigMap) under a name of its own, delivered by rolling
 * update, routed by the `userid` header, with two replicas so the rollout
 * has something to show.
 */
export function createE2eService(
  prefix = 'e2e-shop',
  options: {
    /** The devcluster's fail-as annotation on the pods (e.g. ImagePullBackOff): every rollout fails so. */
    failAs?: string;
    /** The Deployment's progress deadline: a failing rollout fails after this long. */
    progressDeadlineSeconds?: number;
    /** A User entity of this name (namespace default), member of the owning group e2e. */
    member?: string;
  } = {},
): E2eService {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-e2e-service-'));
  const catalogFile = path.join(dir, 'catalog-info.yaml');
  fs.writeFileSync(
    catalogFile,
    `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ${name}
  description: A service the end-to-end tests deliver.
  annotations:
    kube-delivery.io/image: example.test/boutique/${name}
    kube-delivery.io/manifest: ./deploy.yaml
    kube-delivery.io/strategy: rolling
    kube-delivery.io/replicas: '2'
    kube-delivery.io/routing: header:userid
spec:
  type: service
  lifecycle: experimental
  owner: group:default/e2e
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: e2e
spec:
  type: team
  children: []
${
  options.member
    ? `---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: ${options.member}
spec:
  memberOf: [e2e]
`
    : ''
}`,
  );
  const manifestFile = path.join(dir, 'deploy.yaml');
  const writeManifest = (greeting: string) =>
    fs.writeFileSync(manifestFile, manifest(name, greeting, options));
  writeManifest('hello');
  return {
    name,
    catalogFile,
    apiPath: `/api/kube-delivery/entities/component/default/${name}`,
    setGreeting: writeManifest,
    async remove() {
      for (const namespace of ['dev', 'test', 'production']) {
        await kubectl([
          '-n',
          namespace,
          'delete',
          'deployment,service,configmap,secret,pdb,job,virtualservice',
          '-l',
          `app.kubernetes.io/name=${name}`,
          '--ignore-not-found',
          '--wait=false',
        ]);
        await kubectl([
          '-n',
          namespace,
          'delete',
          'virtualservice',
          name,
          '--ignore-not-found',
          '--wait=false',
        ]);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Online Boutique's adservice manifest from examples/, renamed, with
 * minReadySeconds, a GREETING value in its ConfigMap and, if given, pods that
 * fail as `failAs` and a progress deadline.
 */
function manifest(
  name: string,
  greeting: string,
  options: { failAs?: string; progressDeadlineSeconds?: number },
): string {
  const { failAs, progressDeadlineSeconds } = options;
  const example = fs.readFileSync(EXAMPLE_MANIFEST, 'utf8');
  const documents = parseAllDocuments(example.replaceAll('adservice', name));
  for (const document of documents) {
    const kind = document.get('kind');
    // Simulated pods are ready at once; a pod counts as available only after
    // minReadySeconds, so a rollout lasts long enough to be watched in the UI.
    if (kind === 'Deployment') {
      document.setIn(['spec', 'minReadySeconds'], ROLLOUT_SECONDS);
      if (progressDeadlineSeconds !== undefined) {
        document.setIn(
          ['spec', 'progressDeadlineSeconds'],
          progressDeadlineSeconds,
        );
      }
      if (failAs) {
        document.setIn(
          ['spec', 'template', 'metadata', 'annotations', FAIL_AS_ANNOTATION],
          failAs,
        );
      }
    }
    if (kind === 'ConfigMap') document.setIn(['data', 'GREETING'], greeting);
  }
  // Every document after the first prints its own `---` marker.
  return documents.map(document => document.toString()).join('');
}
