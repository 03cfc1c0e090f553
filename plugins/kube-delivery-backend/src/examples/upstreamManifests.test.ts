import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { Knex } from 'knex';
import request from 'supertest';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  kubectlJson,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(300_000);

const API = '/api/kube-delivery';

/**
 * A service as Online Boutique's release manifests ship it (written here in
 * their shape): a Deployment that runs as the service's own ServiceAccount,
 * with the restricted security settings, its Service and that
 * ServiceAccount document.
 */
function onlineBoutiqueShape(name: string) {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      serviceAccountName: ${name}
      terminationGracePeriodSeconds: 5
      securityContext:
        fsGroup: 1000
        runAsGroup: 1000
        runAsNonRoot: true
        runAsUser: 1000
      containers:
        - name: server
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop:
                - ALL
            privileged: false
            readOnlyRootFilesystem: true
          image: registry.example/boutique/${name}:v0.10.6
          ports:
            - containerPort: 9555
          env:
            - name: PORT
              value: "9555"
          resources:
            requests:
              cpu: 200m
              memory: 180Mi
            limits:
              cpu: 300m
              memory: 300Mi
          readinessProbe:
            initialDelaySeconds: 20
            periodSeconds: 15
            grpc:
              port: 9555
          livenessProbe:
            initialDelaySeconds: 20
            periodSeconds: 15
            grpc:
              port: 9555
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  type: ClusterIP
  selector:
    app: ${name}
  ports:
    - name: grpc
      port: 9555
      targetPort: 9555
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: ${name}
`;
}

/**
 * Bookinfo's reviews as Istio ships it (in its shape): a Service, a
 * ServiceAccount named `bookinfo-<service>`, and a versioned Deployment
 * (`reviews-v1`) whose image lives in a repository per version.
 */
function bookinfoShape(name: string) {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  labels:
    app: ${name}
    service: ${name}
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: ${name}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: bookinfo-${name}
  labels:
    account: ${name}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}-v1
  labels:
    app: ${name}
    version: v1
spec:
  replicas: 1
  selector:
    matchLabels:
      app: ${name}
      version: v1
  template:
    metadata:
      labels:
        app: ${name}
        version: v1
    spec:
      serviceAccountName: bookinfo-${name}
      containers:
      - name: ${name}
        image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.2
        imagePullPolicy: IfNotPresent
        env:
        - name: LOG_DIR
          value: "/tmp/logs"
        ports:
        - containerPort: 9080
        volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: wlp-output
          mountPath: /opt/ibm/wlp/output
      volumes:
      - name: wlp-output
        emptyDir: {}
      - name: tmp
        emptyDir: {}
`;
}

/**
 * Upstream projects' manifests as they ship, ServiceAccount documents
 * included, release and deploy to dev through the HTTP API, and every pod
 * becomes Ready running as the service's own account.
 */
describe('manifests as upstream projects write them, on the local control plane', () => {
  const databases = createTestDatabases();
  let knex: Knex;
  let cluster: DevCluster;
  let backend: TestBackend;
  const boutique = uniqueName('adservice');
  const reviews = uniqueName('reviews');
  const entities = [
    entityWithManifest({
      name: boutique,
      manifest: onlineBoutiqueShape(boutique),
    }).entity,
    entityWithManifest({
      name: reviews,
      manifest: bookinfoShape(reviews),
      annotations: {
        'kube-delivery.io/image': 'istio/examples-bookinfo-reviews-v1',
        'kube-delivery.io/image-repositories':
          'istio/examples-bookinfo-reviews-v2',
      },
    }).entity,
  ];
  const path = (name: string) => `${API}/entities/component/default/${name}`;
  const asUser = () => mockCredentials.user.header();

  beforeAll(async () => {
    cluster = await getDevCluster();
    knex = await databases.init('SQLITE_3');
    backend = await startDeliveryBackend({
      cluster,
      knex,
      entities,
      permission: AuthorizeResult.ALLOW,
    });
  });

  afterAll(async () => {
    await backend?.stop();
    for (const name of [boutique, reviews]) {
      await cluster?.kubectl([
        '-n',
        'dev',
        'delete',
        'deployment,service,serviceaccount,configmap,pdb',
        '-l',
        `app.kubernetes.io/name=${name}`,
      ]);
    }
  });

  async function deploy(name: string, release: Record<string, string>) {
    const created = await request(backend.server)
      .post(`${path(name)}/releases`)
      .set('Authorization', asUser())
      .send(release);
    expect(created.status).toBe(201);
    const queued = await request(backend.server)
      .post(`${path(name)}/deployments`)
      .set('Authorization', asUser())
      .send({ environment: 'dev', releaseId: created.body.id });
    expect(queued.status).toBe(202);
    for (;;) {
      const res = await request(backend.server)
        .get(`${path(name)}/deployments/${queued.body.id}`)
        .set('Authorization', asUser());
      if (!['queued', 'running'].includes(res.body.status)) return res.body;
      await new Promise(resolve => setTimeout(resolve, 300));
    }
  }

  async function readyPodsOf(name: string) {
    const pods = await kubectlJson(cluster, [
      '-n',
      'dev',
      'get',
      'pods',
      '-l',
      `app.kubernetes.io/name=${name}`,
    ]);
    return pods.items.filter(
      (pod: any) =>
        !pod.metadata.deletionTimestamp &&
        pod.status.conditions?.some(
          (c: any) => c.type === 'Ready' && c.status === 'True',
        ),
    );
  }

  it("deploys Online Boutique's shape, ServiceAccount included, with every pod Ready as its own account", async () => {
    const deployment = await deploy(boutique, { version: '0.10.6' });
    expect({
      status: deployment.status,
      message: deployment.message,
    }).toMatchObject({
      status: 'succeeded',
    });
    const pods = await readyPodsOf(boutique);
    expect(pods.length).toBeGreaterThanOrEqual(1);
    for (const pod of pods) expect(pod.spec.serviceAccountName).toBe(boutique);
    const account = await kubectlJson(cluster, [
      '-n',
      'dev',
      'get',
      'serviceaccount',
      boutique,
    ]);
    expect(account.automountServiceAccountToken).toBe(false);
  });

  it("deploys Bookinfo's reviews v1, then v2 from its own repository, with every pod Ready", async () => {
    const v1 = await deploy(reviews, { version: '1.20.2' });
    expect(v1.status).toBe('succeeded');
    const v2 = await deploy(reviews, {
      version: '1.20.3',
      image: 'istio/examples-bookinfo-reviews-v2',
      tag: '1.20.2',
    });
    expect({ status: v2.status, message: v2.message }).toMatchObject({
      status: 'succeeded',
    });
    const live = await kubectlJson(cluster, [
      '-n',
      'dev',
      'get',
      'deployment',
      reviews,
    ]);
    expect(live.spec.template.spec.containers[0].image).toBe(
      'istio/examples-bookinfo-reviews-v2:1.20.2',
    );
    expect(live.spec.template.spec.serviceAccountName).toBe(reviews);
    const pods = await readyPodsOf(reviews);
    expect(pods.length).toBeGreaterThanOrEqual(1);
    for (const pod of pods) {
      expect(pod.spec.serviceAccountName).toBe(reviews);
      expect(pod.spec.containers[0].image).toBe(
        'istio/examples-bookinfo-reviews-v2:1.20.2',
      );
    }
  });

  it('refuses a release from a repository the entity does not allow, with a 400', async () => {
    const res = await request(backend.server)
      .post(`${path(reviews)}/releases`)
      .set('Authorization', asUser())
      .send({ version: '1.20.4', image: 'istio/examples-bookinfo-ratings-v1' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain(
      'may name istio/examples-bookinfo-reviews-v1, istio/examples-bookinfo-reviews-v2',
    );
  });
});
