import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kubectl } from './cluster';

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
 * A small gRPC service in the shape of Online Boutique's adservice: a
 * Deployment, its Service and a ConfigMap, delivered by rolling update,
 * routed by the `userid` header, with two replicas so the rollout has
 * something to show.
 */
export function createE2eService(prefix = 'e2e-shop'): E2eService {
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
`,
  );
  const manifestFile = path.join(dir, 'deploy.yaml');
  const writeManifest = (greeting: string) =>
    fs.writeFileSync(manifestFile, manifest(name, greeting));
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

function manifest(name: string, greeting: string) {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  # Simulated pods are ready at once; a pod counts as available only after
  # this, so a rollout lasts long enough to be watched in the UI.
  minReadySeconds: ${ROLLOUT_SECONDS}
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      containers:
        - name: server
          image: set-by-kube-delivery
          ports:
            - containerPort: 9555
          envFrom:
            - configMapRef:
                name: ${name}-settings
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector:
    app: ${name}
  ports:
    - name: grpc
      port: 9555
      targetPort: 9555
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}-settings
data:
  DEPLOYMENT_ENVIRONMENT: '#{Environment}'
  GREETING: ${JSON.stringify(greeting)}
`;
}
