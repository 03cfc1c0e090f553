import { InputError } from '@backstage/errors';
import type { V1PodSpec } from '@kubernetes/client-node';
import type { ServiceSpec } from '../catalog';
import { parseManifest } from './parse';
import { ANNOTATION_RESTARTED_AT, renderRelease, trackOf } from './render';
import { ownerHash } from '../tenancy/ownership';
import { ANNOTATION_OWNER_REF, LABEL_OWNER } from '../cluster/managedObjects';
import type { RenderedRelease, RenderInput } from './types';

const RELEASE_ID = '3f2a9b1c-7d4e-4c1a-9f3b-2a1b0c9d8e7f';
const DEPLOYMENT_ID = '9c8b7a6d-0000-4000-8000-000000000001';
const LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** What the test environment shares with every service (the manifest uses both). */
const SHARED = { configMaps: ['cluster-wide'], secrets: ['external-pull'] };

const spec: ServiceSpec = {
  entityRef: 'component:default/cartservice',
  name: 'cartservice',
  image: 'registry.example.com/shop/cartservice',
  strategy: 'rolling',
  replicas: 1,
  antiAffinity: 'preferred',
  kubernetesId: 'shop-cartservice',
};

/** A service's own manifest exercising every kind of ConfigMap/Secret reference. */
const manifestYaml = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cartservice
  labels: { app: cartservice, kube-delivery.io/track: spoofed }
  annotations: { team: carts }
spec:
  replicas: 2
  progressDeadlineSeconds: 5000
  paused: true
  selector:
    matchLabels: { app: cartservice }
  template:
    metadata:
      labels: { app: cartservice, kube-delivery.io/release: spoofed }
      annotations: { sidecar.istio.io/rewriteAppHTTPProbers: "true" }
    spec:
      imagePullSecrets: [{ name: pull }, { name: external-pull }]
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms: [{ matchExpressions: [{ key: pool, operator: In, values: [general] }] }]
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 10
              podAffinityTerm: { topologyKey: kubernetes.io/hostname, labelSelector: { matchLabels: { app: x } } }
            - weight: 50
              podAffinityTerm: { topologyKey: topology.kubernetes.io/zone, labelSelector: { matchLabels: { app: cartservice } } }
      initContainers:
        - name: migrate
          image: example/migrate:1
          envFrom: [{ configMapRef: { name: settings } }]
      containers:
        - name: log-shipper
          image: example/shipper:2
        - name: cartservice
          image: placeholder
          ports: [{ containerPort: 7070 }]
          env:
            - name: REDIS_ADDR
              valueFrom: { configMapKeyRef: { name: settings, key: REDIS_ADDR } }
            - name: TOKEN
              valueFrom: { secretKeyRef: { name: credentials, key: TOKEN } }
            - name: EXTERNAL
              valueFrom: { configMapKeyRef: { name: cluster-wide, key: X } }
            - name: ENVIRONMENT
              value: "#{Environment}"
          envFrom:
            - configMapRef: { name: settings }
            - secretRef: { name: credentials }
      volumes:
        - name: settings
          configMap: { name: settings }
        - name: credentials
          secret: { secretName: credentials }
        - name: projected
          projected:
            sources:
              - configMap: { name: settings }
              - secret: { name: credentials }
              - serviceAccountToken: { path: token }
---
apiVersion: v1
kind: Service
metadata:
  name: cartservice
spec:
  selector: { app: cartservice }
  ports: [{ name: grpc, port: 7070, targetPort: 7070 }]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  REDIS_ADDR: "redis-cart.#{Namespace}:6379"
  LOG_LEVEL: "#{LogLevel}"
---
apiVersion: v1
kind: Secret
metadata:
  name: credentials
stringData:
  TOKEN: t0ken
---
apiVersion: v1
kind: Secret
metadata:
  name: pull
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: e30=
---
apiVersion: batch/v1
kind: Job
metadata:
  name: smoke
  annotations: { kube-delivery.io/smoke-test: "true" }
spec:
  backoffLimit: 6
  parallelism: 3
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: probe
          image: example/grpc-health-probe:1
          args: ["-addr=$(KUBE_DELIVERY_TARGET_HOST):7070", "--env=#{Environment}"]
          env:
            - name: KUBE_DELIVERY_TARGET
              value: spoofed
          envFrom: [{ configMapRef: { name: settings } }]
`;

function input(overrides: Partial<RenderInput> = {}): RenderInput {
  return {
    spec,
    version: '0.1.4',
    imageRef: 'registry.example.com/shop/cartservice:0.1.4',
    manifest: parseManifest(manifestYaml),
    environment: {
      name: 'dev',
      namespace: 'shop-dev',
      variables: { LogLevel: 'debug' },
      shared: SHARED,
    },
    releaseId: RELEASE_ID,
    deploymentId: DEPLOYMENT_ID,
    ...overrides,
  };
}

function render(
  overrides: Partial<RenderInput> = {},
  specOverrides: Partial<ServiceSpec> = {},
) {
  return renderRelease(
    input({ spec: { ...spec, ...specOverrides }, ...overrides }),
  );
}

function allObjects(r: RenderedRelease) {
  return [
    r.deployment,
    r.service,
    r.previewService,
    ...r.configMaps,
    ...r.secrets,
    r.podDisruptionBudget,
    r.smokeTest,
  ].filter(o => o !== undefined);
}

function podSpec(r: RenderedRelease): V1PodSpec {
  return r.deployment.spec!.template.spec!;
}

/** Every ConfigMap/Secret name the pod spec refers to. */
function references(p: V1PodSpec) {
  const configMaps: string[] = [];
  const secrets: string[] = [];
  for (const c of [...p.containers, ...(p.initContainers ?? [])]) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef)
        configMaps.push(e.valueFrom.configMapKeyRef.name!);
      if (e.valueFrom?.secretKeyRef)
        secrets.push(e.valueFrom.secretKeyRef.name!);
    }
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef) configMaps.push(e.configMapRef.name!);
      if (e.secretRef) secrets.push(e.secretRef.name!);
    }
  }
  for (const v of p.volumes ?? []) {
    if (v.configMap) configMaps.push(v.configMap.name!);
    if (v.secret) secrets.push(v.secret.secretName!);
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap) configMaps.push(s.configMap.name!);
      if (s.secret) secrets.push(s.secret.name!);
    }
  }
  for (const s of p.imagePullSecrets ?? []) secrets.push(s.name!);
  return {
    configMaps: [...new Set(configMaps)].sort(),
    secrets: [...new Set(secrets)].sort(),
  };
}

describe('renderRelease', () => {
  describe('every object', () => {
    it.each<[string, Partial<RenderInput>, Partial<ServiceSpec>]>([
      ['mainline rolling', {}, {}],
      ['feature branch', { version: '0.1.4-myfeature' }, {}],
      ['blue-green', {}, { strategy: 'blue-green' }],
      [
        'blue-green branch',
        { version: '0.1.4-myfeature' },
        { strategy: 'blue-green' },
      ],
      ['no manifest', { manifest: undefined }, {}],
    ])(
      '%s: is namespaced, labelled, annotated, JSON and validly named',
      (_name, overrides, specOverrides) => {
        const r = render(overrides, specOverrides);
        for (const object of allObjects(r)) {
          expect(object.apiVersion).toBeTruthy();
          expect(object.kind).toBeTruthy();
          expect(JSON.parse(JSON.stringify(object))).toEqual(object);
          const { name, namespace, labels, annotations } = object.metadata!;
          expect(name).toMatch(LABEL_RE);
          expect(name!.length).toBeLessThanOrEqual(63);
          expect(namespace).toBe('shop-dev');
          expect(labels).toMatchObject({
            'app.kubernetes.io/name': 'cartservice',
            'app.kubernetes.io/managed-by': 'kube-delivery',
            'app.kubernetes.io/version': overrides.version ?? '0.1.4',
            'backstage.io/kubernetes-id': 'shop-cartservice',
            'kube-delivery.io/track': r.podSelector['kube-delivery.io/track'],
            'kube-delivery.io/environment': 'dev',
          });
          expect(annotations).toMatchObject({
            'kube-delivery.io/release-id': RELEASE_ID,
            'kube-delivery.io/version': overrides.version ?? '0.1.4',
          });
          // Redeploying the same release must change nothing: no per-deployment id.
          expect(annotations).not.toHaveProperty(
            'kube-delivery.io/deployment-id',
          );
        }
        // Pods of the release carry the selector labels and the version.
        expect(r.deployment.spec!.selector.matchLabels).toEqual(r.podSelector);
        expect(r.deployment.spec!.template.metadata!.labels).toMatchObject({
          ...r.podSelector,
          'app.kubernetes.io/version': overrides.version ?? '0.1.4',
        });
        expect(r.service!.spec!.selector).toEqual(r.podSelector);
      },
    );
  });

  it('names the track the pods are selected by with trackOf', () => {
    for (const version of ['0.1.4', '0.1.4-myfeature', '2.0.0-Fix.Login']) {
      const r = render({ version });
      expect(r.podSelector['kube-delivery.io/track']).toBe(
        trackOf(version, 'cartservice'),
      );
    }
    expect(trackOf('0.1.4', 'cartservice')).toBe('mainline');
    expect(trackOf('0.1.4-myfeature', 'cartservice')).not.toBe('mainline');
  });

  it("stamps a restart's time on the pod template, and nothing otherwise", () => {
    const at = '2026-12-04T10:00:00.000Z';
    const restarted = render({ restartedAt: at });
    expect(
      restarted.deployment.spec!.template.metadata!.annotations,
    ).toMatchObject({ [ANNOTATION_RESTARTED_AT]: at });
    const plain = render();
    expect(
      plain.deployment.spec!.template.metadata!.annotations,
    ).not.toHaveProperty([ANNOTATION_RESTARTED_AT]);
    // Only the pod template differs.
    expect({
      ...restarted.deployment,
      spec: { ...restarted.deployment.spec, template: undefined },
    }).toEqual({
      ...plain.deployment,
      spec: { ...plain.deployment.spec, template: undefined },
    });
  });

  it('renders a mainline rolling release', () => {
    const r = render();
    expect(r.workloadName).toBe('cartservice');
    expect(r.serviceName).toBe('cartservice');
    expect(r.deployment.metadata!.name).toBe('cartservice');
    expect(r.service!.metadata!.name).toBe('cartservice');
    expect(r.previewService).toBeUndefined();
    expect(r.podSelector).toEqual({
      'app.kubernetes.io/name': 'cartservice',
      'kube-delivery.io/track': 'mainline',
    });
    expect(r.configMaps.map(c => c.metadata!.name)).toEqual(['settings']);
    expect(r.secrets.map(s => s.metadata!.name)).toEqual([
      'credentials',
      'pull',
    ]);
    expect(references(podSpec(r))).toEqual({
      configMaps: ['cluster-wide', 'settings'],
      secrets: ['credentials', 'external-pull', 'pull'],
    });
    // The manifest's own labels and annotations stay, except in our prefix.
    expect(r.deployment.metadata!.labels!.app).toBe('cartservice');
    expect(r.deployment.metadata!.annotations!.team).toBe('carts');
    expect(r.deployment.spec!.template.metadata!.annotations).toMatchObject({
      'sidecar.istio.io/rewriteAppHTTPProbers': 'true',
      'kube-delivery.io/release-id': RELEASE_ID,
    });
    expect(r.deployment.spec!.template.metadata!.labels).not.toHaveProperty([
      'kube-delivery.io/release',
    ]);
    expect(r.deployment.spec).not.toHaveProperty('paused');
  });

  it('substitutes placeholders in string values', () => {
    const r = render();
    expect(r.configMaps[0].data).toEqual({
      REDIS_ADDR: 'redis-cart.shop-dev:6379',
      LOG_LEVEL: 'debug',
    });
    expect(podSpec(r).containers[1].env).toContainEqual({
      name: 'ENVIRONMENT',
      value: 'dev',
    });
    expect(r.smokeTest!.spec!.template.spec!.containers[0].args).toEqual([
      '-addr=$(KUBE_DELIVERY_TARGET_HOST):7070',
      '--env=dev',
    ]);
  });

  it('does not modify the snapshot it renders', () => {
    const manifest = parseManifest(manifestYaml);
    const before = JSON.stringify(manifest);
    render({ manifest, version: '0.1.4-x' }, { strategy: 'blue-green' });
    expect(JSON.stringify(manifest)).toBe(before);
  });

  describe('the image', () => {
    it('goes to the container named after the service, other images stay', () => {
      const containers = podSpec(render()).containers;
      expect(containers.map(c => [c.name, c.image])).toEqual([
        ['log-shipper', 'example/shipper:2'],
        ['cartservice', 'registry.example.com/shop/cartservice:0.1.4'],
      ]);
      expect(podSpec(render()).initContainers![0].image).toBe(
        'example/migrate:1',
      );
    });

    it('goes to the first container when none is named after the service', () => {
      const containers = podSpec(
        render(
          {},
          { name: 'carts', image: 'registry.example.com/shop/cartservice' },
        ),
      ).containers;
      expect(containers[0].image).toBe(
        'registry.example.com/shop/cartservice:0.1.4',
      );
      expect(containers[1].image).toBe('placeholder');
    });

    it.each([
      `registry.example.com/shop/cartservice@sha256:${'a'.repeat(64)}`,
      `registry.example.com/shop/cartservice:0.1.4@sha256:${'b'.repeat(64)}`,
    ])('accepts %s', imageRef => {
      expect(podSpec(render({ imageRef })).containers[1].image).toBe(imageRef);
    });

    it.each([
      'registry.example.com/shop/cartservice',
      'registry.example.com/shop/cartservicex:1',
      'evil.example.com/cartservice:0.1.4',
      'registry.example.com/shop/cartservice:0.1.4 --privileged',
      'registry.example.com/shop/cartservice:-bad',
      'registry.example.com/shop/cartservice@sha256:short',
    ])('rejects %s', imageRef => {
      expect(() => render({ imageRef })).toThrow(InputError);
    });
  });

  describe('replicas', () => {
    it.each([
      // [version, spec replicas, manifest replicas, environment floor, expected]
      ['0.1.4', 1, undefined, undefined, 1],
      ['0.1.4', 3, undefined, undefined, 3],
      ['0.1.4', 1, 2, undefined, 2],
      ['0.1.4', 1, undefined, 2, 2],
      ['0.1.4', 4, 2, 3, 4],
      ['0.1.4-myfeature', 1, 5, 2, 1],
      ['0.1.4-myfeature', 3, undefined, 2, 3],
    ])(
      '%s with spec %d, manifest %s, floor %s -> %d',
      (version, replicas, manifestReplicas, minReplicas, expected) => {
        const manifest = parseManifest(manifestYaml);
        if (manifestReplicas === undefined)
          delete manifest.deployment.spec!.replicas;
        else manifest.deployment.spec!.replicas = manifestReplicas;
        const r = render(
          {
            version,
            manifest,
            environment: {
              name: 'prod',
              namespace: 'shop-dev',
              minReplicas,
              variables: { LogLevel: 'x' },
              shared: SHARED,
            },
          },
          { replicas },
        );
        expect(r.deployment.spec!.replicas).toBe(expected);
        // A PodDisruptionBudget exactly when more than one replica runs.
        const hasBudget = expected > 1;
        expect(r.podDisruptionBudget?.apiVersion).toBe(
          hasBudget ? 'policy/v1' : undefined,
        );
        expect(r.podDisruptionBudget?.metadata?.name).toBe(
          hasBudget ? r.workloadName : undefined,
        );
        expect(r.podDisruptionBudget?.spec).toEqual(
          hasBudget
            ? { maxUnavailable: 1, selector: { matchLabels: r.podSelector } }
            : undefined,
        );
      },
    );
  });

  describe('anti-affinity', () => {
    const hostnameTerm = (selector: Record<string, string>) => ({
      topologyKey: 'kubernetes.io/hostname',
      labelSelector: { matchLabels: selector },
    });
    const zoneTerm = {
      weight: 50,
      podAffinityTerm: {
        topologyKey: 'topology.kubernetes.io/zone',
        labelSelector: { matchLabels: { app: 'cartservice' } },
      },
    };

    it('preferred: replaces the hostname term, keeps the rest', () => {
      const r = render();
      const affinity = podSpec(r).affinity!;
      expect(affinity.nodeAffinity).toBeDefined();
      expect(affinity.podAntiAffinity).toEqual({
        preferredDuringSchedulingIgnoredDuringExecution: [
          zoneTerm,
          { weight: 100, podAffinityTerm: hostnameTerm(r.podSelector) },
        ],
      });
    });

    it('required: a required hostname term', () => {
      const r = render({}, { antiAffinity: 'required' });
      expect(podSpec(r).affinity!.podAntiAffinity).toEqual({
        preferredDuringSchedulingIgnoredDuringExecution: [zoneTerm],
        requiredDuringSchedulingIgnoredDuringExecution: [
          hostnameTerm(r.podSelector),
        ],
      });
    });

    it('none: adds nothing and keeps the manifest affinity', () => {
      const r = render({}, { antiAffinity: 'none' });
      expect(podSpec(r).affinity).toEqual(
        parseManifest(manifestYaml).deployment.spec!.template.spec!.affinity,
      );
      expect(
        podSpec(render({ manifest: undefined }, { antiAffinity: 'none' }))
          .affinity,
      ).toBeUndefined();
    });

    it('blue-green: spreads the pods of one release', () => {
      const r = render({ manifest: undefined }, { strategy: 'blue-green' });
      expect(podSpec(r).affinity).toEqual({
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 100, podAffinityTerm: hostnameTerm(r.podSelector) },
          ],
        },
      });
      expect(r.podSelector).toHaveProperty(['kube-delivery.io/release']);
    });
  });

  describe('strategy', () => {
    it.each([
      [
        'rolling',
        {
          type: 'RollingUpdate',
          rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
        },
      ],
      [
        'blue-green',
        {
          type: 'RollingUpdate',
          rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
        },
      ],
      ['recreate', { type: 'Recreate' }],
    ] as const)('%s', (strategy, expected) => {
      expect(render({}, { strategy }).deployment.spec!.strategy).toEqual(
        expected,
      );
    });

    it.each([
      [undefined, 120],
      [300, 300],
      [5000, 1800],
    ])('progress deadline from the manifest %s -> %d', (deadline, expected) => {
      const manifest = parseManifest(manifestYaml);
      if (deadline === undefined)
        delete manifest.deployment.spec!.progressDeadlineSeconds;
      else manifest.deployment.spec!.progressDeadlineSeconds = deadline;
      expect(
        render({ manifest }).deployment.spec!.progressDeadlineSeconds,
      ).toBe(expected);
    });
  });

  describe('config hash', () => {
    const hashOf = (r: RenderedRelease) =>
      r.deployment.spec!.template.metadata!.annotations![
        'kube-delivery.io/config-hash'
      ];

    it('is stable, and changes with ConfigMap or Secret data', () => {
      const base = hashOf(render());
      expect(base).toMatch(/^[0-9a-f]{32}$/);
      expect(hashOf(render())).toBe(base);
      expect(hashOf(render({ deploymentId: 'other' }))).toBe(base);
      const changedVariable = render({
        environment: {
          name: 'dev',
          namespace: 'shop-dev',
          variables: { LogLevel: 'info' },
          shared: SHARED,
        },
      });
      expect(hashOf(changedVariable)).not.toBe(base);
      const manifest = parseManifest(manifestYaml);
      manifest.secrets[0].stringData = { TOKEN: 'rotated' };
      expect(hashOf(render({ manifest }))).not.toBe(base);
    });

    it('never puts secret values in the rendered workload', () => {
      const r = render();
      expect(JSON.stringify(r.deployment)).not.toContain('t0ken');
      expect(JSON.stringify(r.smokeTest)).not.toContain('t0ken');
    });
  });

  describe('feature branches', () => {
    it('names everything after the branch and selects only branch pods', () => {
      const r = render({ version: '0.1.4-myfeature' });
      expect(r.workloadName).toBe('cartservice-myfeature');
      expect(r.serviceName).toBe('cartservice-myfeature');
      expect(r.service!.metadata!.name).toBe('cartservice-myfeature');
      expect(r.podSelector).toEqual({
        'app.kubernetes.io/name': 'cartservice',
        'kube-delivery.io/track': 'myfeature',
      });
      expect(r.configMaps.map(c => c.metadata!.name)).toEqual([
        'settings-myfeature',
      ]);
      expect(r.secrets.map(s => s.metadata!.name)).toEqual([
        'credentials-myfeature',
        'pull-myfeature',
      ]);
      expect(references(podSpec(r))).toEqual({
        configMaps: ['cluster-wide', 'settings-myfeature'],
        secrets: ['credentials-myfeature', 'external-pull', 'pull-myfeature'],
      });
      // The manifest's spoofed track label does not survive.
      expect(r.deployment.metadata!.labels!['kube-delivery.io/track']).toBe(
        'myfeature',
      );
    });

    it('never selects or names like the mainline', () => {
      const mainline = render();
      const branch = render({ version: '0.1.4-myfeature' });
      const names = (r: RenderedRelease) =>
        allObjects(r).map(o => `${o.kind}/${o.metadata!.name}`);
      for (const name of names(branch))
        expect(names(mainline)).not.toContain(name);
      const matches = (
        selector: Record<string, string>,
        labels: Record<string, string>,
      ) => Object.entries(selector).every(([k, v]) => labels[k] === v);
      const mainlinePods = mainline.deployment.spec!.template.metadata!.labels!;
      const branchPods = branch.deployment.spec!.template.metadata!.labels!;
      expect(matches(mainline.service!.spec!.selector!, branchPods)).toBe(
        false,
      );
      expect(matches(branch.service!.spec!.selector!, mainlinePods)).toBe(
        false,
      );
      expect(
        matches(mainline.deployment.spec!.selector.matchLabels!, branchPods),
      ).toBe(false);
    });

    it('hashes a branch that needed sanitising, and tells it apart', () => {
      const a = render({ version: '0.1.4-My.Feature' });
      const b = render({ version: '0.1.4-my-feature' });
      expect(a.workloadName).toMatch(/^cartservice-my-feature-[0-9a-f]{8}$/);
      expect(b.workloadName).toBe('cartservice-my-feature');
      expect(a.podSelector['kube-delivery.io/track']).not.toBe(
        b.podSelector['kube-delivery.io/track'],
      );
    });

    it('cannot claim the mainline track', () => {
      const r = render({ version: '0.1.4-mainline' });
      expect(r.podSelector['kube-delivery.io/track']).not.toBe('mainline');
      expect(r.workloadName).not.toBe('cartservice-mainline');
    });

    it('offers #{FeatureBranch} and #{Version}', () => {
      const manifest = parseManifest(
        manifestYaml.replace(
          '"#{Environment}"',
          '"#{FeatureBranch}@#{Version}"',
        ),
      );
      const env = podSpec(render({ manifest, version: '0.1.4-a.b' }))
        .containers[1].env!;
      expect(env).toContainEqual({
        name: 'ENVIRONMENT',
        value: 'a.b@0.1.4-a.b',
      });
      const mainEnv = podSpec(render({ manifest })).containers[1].env!;
      expect(mainEnv).toContainEqual({ name: 'ENVIRONMENT', value: '@0.1.4' });
    });
  });

  describe('blue-green', () => {
    it('renders uniquely named objects of the release, and a Service that switches to them', () => {
      const r = render({}, { strategy: 'blue-green' });
      const slug = r.podSelector['kube-delivery.io/release'];
      expect(slug).toMatch(/^[0-9a-f]{8}$/);
      expect(r.workloadName).toBe(`cartservice-${slug}`);
      expect(r.serviceName).toBe('cartservice');
      expect(r.service!.metadata!.name).toBe('cartservice');
      expect(r.service!.spec!.selector).toEqual({
        'app.kubernetes.io/name': 'cartservice',
        'kube-delivery.io/track': 'mainline',
        'kube-delivery.io/release': slug,
      });
      expect(r.previewService!.metadata!.name).toBe(r.workloadName);
      expect(r.previewService!.spec!.selector).toEqual(r.podSelector);
      expect(r.previewService!.spec!.ports).toEqual(r.service!.spec!.ports);
      expect(r.configMaps.map(c => c.metadata!.name)).toEqual([
        `settings-${slug}`,
      ]);
      expect(r.secrets.map(s => s.metadata!.name)).toEqual([
        `credentials-${slug}`,
        `pull-${slug}`,
      ]);
      expect(references(podSpec(r))).toEqual({
        configMaps: ['cluster-wide', `settings-${slug}`],
        secrets: [`credentials-${slug}`, 'external-pull', `pull-${slug}`],
      });
      expect(
        r.deployment.spec!.template.metadata!.labels![
          'kube-delivery.io/release'
        ],
      ).toBe(slug);
    });

    it('gives two releases different names, and the same release the same', () => {
      const a = render({}, { strategy: 'blue-green' });
      const b = render(
        { releaseId: '3f2a9b1c-0000-4000-8000-000000000000' },
        { strategy: 'blue-green' },
      );
      expect(a.workloadName).not.toBe(b.workloadName);
      expect(a.configMaps[0].metadata!.name).not.toBe(
        b.configMaps[0].metadata!.name,
      );
      expect(render({}, { strategy: 'blue-green' }).workloadName).toBe(
        a.workloadName,
      );
    });

    it('keeps branch names within 63 characters', () => {
      const name = `a${'b'.repeat(44)}`;
      const r = render(
        {
          manifest: undefined,
          version: `0.1.4-${'x'.repeat(40)}`,
          imageRef: `${spec.image}:1`,
        },
        { name, strategy: 'blue-green' },
      );
      for (const object of allObjects(r)) {
        expect(object.metadata!.name!.length).toBeLessThanOrEqual(63);
        expect(object.metadata!.name).toMatch(LABEL_RE);
      }
      expect(r.workloadName.startsWith(name)).toBe(true);
      expect(
        r.workloadName.endsWith(r.podSelector['kube-delivery.io/release']),
      ).toBe(true);
      expect(r.serviceName).not.toBe(r.workloadName);
    });

    it('names a branch release <service>-<branch>-<release>', () => {
      const r = render(
        { version: '0.1.4-myfeature' },
        { strategy: 'blue-green' },
      );
      const slug = r.podSelector['kube-delivery.io/release'];
      expect(r.workloadName).toBe(`cartservice-myfeature-${slug}`);
      expect(r.serviceName).toBe('cartservice-myfeature');
    });
  });

  describe('the smoke test', () => {
    it('renders a one-shot Job that targets the new pods', () => {
      const r = render();
      const job = r.smokeTest!;
      expect(job.metadata!.name).toMatch(/^cartservice-smoke-[0-9a-f]{8}$/);
      expect(job.metadata!.annotations!['kube-delivery.io/smoke-test']).toBe(
        'true',
      );
      expect(job.spec).toMatchObject({
        backoffLimit: 0,
        activeDeadlineSeconds: 300,
        ttlSecondsAfterFinished: 3600,
      });
      expect(job.spec).not.toHaveProperty('parallelism');
      const pod = job.spec!.template.spec!;
      expect(pod.restartPolicy).toBe('Never');
      expect(pod.containers[0].image).toBe('example/grpc-health-probe:1');
      expect(pod.containers[0].env).toEqual([
        {
          name: 'KUBE_DELIVERY_TARGET',
          value: 'http://cartservice.shop-dev.svc',
        },
        {
          name: 'KUBE_DELIVERY_TARGET_HOST',
          value: 'cartservice.shop-dev.svc',
        },
      ]);
      expect(pod.containers[0].envFrom).toEqual([
        { configMapRef: { name: 'settings' } },
      ]);
    });

    it('is never selected by the release Service or Deployment', () => {
      for (const r of [render(), render({}, { strategy: 'blue-green' })]) {
        const podLabels = r.smokeTest!.spec!.template.metadata!.labels!;
        const selected = Object.entries(r.podSelector).every(
          ([k, v]) => podLabels[k] === v,
        );
        expect(selected).toBe(false);
        expect(podLabels['kube-delivery.io/smoke-test-of']).toBe(
          r.workloadName,
        );
      }
    });

    it('is named after the deployment, or the release without one', () => {
      const a = render().smokeTest!.metadata!.name;
      const b = render({ deploymentId: 'another' }).smokeTest!.metadata!.name;
      const c = render({ deploymentId: undefined }).smokeTest!.metadata!.name;
      expect(new Set([a, b, c]).size).toBe(3);
    });

    it('targets the preview Service under blue-green, and renamed config', () => {
      const r = render(
        { version: '0.1.4-myfeature' },
        { strategy: 'blue-green' },
      );
      const pod = r.smokeTest!.spec!.template.spec!;
      expect(pod.containers[0].env).toContainEqual({
        name: 'KUBE_DELIVERY_TARGET',
        value: `http://${r.workloadName}.shop-dev.svc`,
      });
      expect(pod.containers[0].envFrom).toEqual([
        { configMapRef: { name: r.configMaps[0].metadata!.name } },
      ]);
      expect(r.smokeTest!.metadata!.name!.length).toBeLessThanOrEqual(63);
    });

    it.each([
      [60, 60],
      [7200, 3600],
    ])('keeps a deadline of %d as %d', (deadline, expected) => {
      const manifest = parseManifest(manifestYaml);
      manifest.smokeTest!.spec!.activeDeadlineSeconds = deadline;
      expect(render({ manifest }).smokeTest!.spec!.activeDeadlineSeconds).toBe(
        expected,
      );
    });
  });

  it("gives containers without a preStop hook the environment's shutdown delay, inside their grace period", () => {
    const environment = { ...input().environment, shutdownDelaySeconds: 5 };
    const preStops = (r: RenderedRelease) =>
      r.deployment.spec!.template.spec!.containers.map(c => c.lifecycle?.preStop);
    const sleep = (seconds: number) => ({ sleep: { seconds } });
    expect(preStops(render({ environment }))).toEqual([sleep(5), sleep(5)]);
    // Never as long as the grace period itself: the pod must still stop in time.
    const shortGrace = parseManifest(
      manifestYaml.replace(
        '    spec:\n      imagePullSecrets',
        '    spec:\n      terminationGracePeriodSeconds: 3\n      imagePullSecrets',
      ),
    );
    expect(preStops(render({ environment, manifest: shortGrace }))).toEqual([sleep(2), sleep(2)]);
    // A container's own hook is kept; 0 turns the delay off.
    const ownHook = parseManifest(
      manifestYaml.replace(
        '          image: example/shipper:2',
        '          image: example/shipper:2\n          lifecycle: { preStop: { exec: { command: [drain] } } }',
      ),
    );
    expect(preStops(render({ environment, manifest: ownHook }))).toEqual([
      { exec: { command: ['drain'] } },
      sleep(5),
    ]);
    expect(
      preStops(render({ environment: { ...environment, shutdownDelaySeconds: 0 } })),
    ).toEqual([undefined, undefined]);
  });

  it('renders a minimal Deployment and Service without a manifest', () => {
    const r = render({ manifest: undefined });
    expect(podSpec(r).containers).toEqual([
      {
        name: 'cartservice',
        image: 'registry.example.com/shop/cartservice:0.1.4',
        ports: [{ name: 'http', containerPort: 8080 }],
      },
    ]);
    expect(r.service!.spec).toEqual({
      ports: [{ name: 'http', port: 80, targetPort: 8080 }],
      selector: r.podSelector,
    });
    expect(r.configMaps).toEqual([]);
    expect(r.secrets).toEqual([]);
    expect(r.smokeTest).toBeUndefined();
  });

  it('renders no Service when the manifest has none', () => {
    const manifest = parseManifest(manifestYaml);
    delete manifest.service;
    const r = render({ manifest });
    expect(r.service).toBeUndefined();
    expect(r.smokeTest!.spec!.template.spec!.containers[0].env).toEqual([
      { name: 'KUBE_DELIVERY_TARGET', value: 'spoofed' },
    ]);
  });

  it('sanitises build metadata in the version label', () => {
    const r = render({ version: '0.1.4+build.7' });
    expect(r.deployment.metadata!.labels!['app.kubernetes.io/version']).toBe(
      '0.1.4_build.7',
    );
    expect(
      r.deployment.metadata!.annotations!['kube-delivery.io/version'],
    ).toBe('0.1.4+build.7');
  });

  describe('tenancy', () => {
    const everyObject = (r: RenderedRelease) =>
      [
        r.serviceAccount,
        r.deployment,
        r.service,
        r.previewService,
        r.podDisruptionBudget,
        r.smokeTest,
        ...r.configMaps,
        ...r.secrets,
      ].filter(o => o !== undefined);

    it('labels every object and pod template with the owning entity', () => {
      const r = render({}, { strategy: 'blue-green' });
      const hash = ownerHash(spec.entityRef);
      for (const object of everyObject(r)) {
        expect(object.metadata?.labels?.[LABEL_OWNER]).toBe(hash);
        expect(object.metadata?.annotations?.[ANNOTATION_OWNER_REF]).toBe(
          spec.entityRef,
        );
      }
      expect(r.deployment.spec!.template.metadata!.labels![LABEL_OWNER]).toBe(
        hash,
      );
      expect(r.smokeTest!.spec!.template.metadata!.labels![LABEL_OWNER]).toBe(
        hash,
      );
      expect(hash).toMatch(LABEL_RE);
      // One owner per entity, whatever the case of its ref.
      expect(ownerHash('Component:default/CartService')).toBe(hash);
      expect(ownerHash('resource:default/cartservice')).not.toBe(hash);
    });

    it('sets the workload identity labels itself, whatever the manifest says', () => {
      const manifest = parseManifest(manifestYaml);
      const pod = manifest.deployment.spec!.template.metadata!;
      pod.labels = {
        ...pod.labels,
        app: 'frontend',
        version: 'v9',
        'app.kubernetes.io/name': 'frontend',
        'backstage.io/kubernetes-id': 'frontend',
        team: 'carts',
      };
      const r = render({ manifest, version: '0.1.4-myfeature' });
      const labels = r.deployment.spec!.template.metadata!.labels!;
      expect(labels).toMatchObject({
        app: 'cartservice',
        version: '0.1.4-myfeature',
        'app.kubernetes.io/name': 'cartservice',
        'backstage.io/kubernetes-id': 'shop-cartservice',
        team: 'carts',
      });
    });

    it("runs pods as the service's own account with no token, even over a left-over serviceAccount field", () => {
      const manifest = parseManifest(
        `${manifestYaml}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: cart-sa\n  annotations: { iam.gke.io/gcp-service-account: admin@corp.iam }\n`,
      );
      manifest.deployment.spec!.template.spec!.serviceAccountName = 'cart-sa';
      const r = render({ manifest });
      expect(r.serviceAccount.metadata!.name).toBe('cartservice');
      expect(r.serviceAccount.automountServiceAccountToken).toBe(false);
      // A cloud identity binding is the platform team's to grant.
      expect(r.serviceAccount.metadata!.annotations).toEqual({
        [ANNOTATION_OWNER_REF]: spec.entityRef,
      });
      for (const runs of [
        r.deployment.spec!.template.spec!,
        r.smokeTest!.spec!.template.spec!,
      ]) {
        expect(runs.serviceAccountName).toBe('cartservice');
        expect(runs.serviceAccount).toBe('cartservice');
        expect(runs.automountServiceAccountToken).toBe(false);
      }
      const mounting = render({}, { serviceAccountToken: 'mount' });
      expect(mounting.serviceAccount.automountServiceAccountToken).toBe(true);
      expect(
        mounting.deployment.spec!.template.spec!.automountServiceAccountToken,
      ).toBe(true);
    });

    it.each([
      ['serviceAccountName', 'kube-delivery'],
      ['serviceAccountName', 'frontend'],
      ['serviceAccount', 'deployer-dev'],
    ] as const)('refuses %s %s naming another account', (field, value) => {
      const manifest = parseManifest(manifestYaml);
      manifest.deployment.spec!.template.spec![field] = value;
      expect(() => render({ manifest })).toThrow(InputError);
      expect(() => render({ manifest })).toThrow(
        `spec.template.spec.${field} "${value}" names another account`,
      );
    });

    it.each([
      ['a ConfigMap', 'configMaps', /ConfigMap "cluster-wide"/],
      ['a pull Secret', 'secrets', /Secret "external-pull"/],
    ] as const)(
      'refuses %s of the namespace that the environment does not share',
      (_what, kind, message) => {
        const shared = { ...SHARED, [kind]: [] };
        const environment = { ...input().environment, shared };
        expect(() => render({ environment })).toThrow(InputError);
        expect(() => render({ environment })).toThrow(message);
      },
    );
  });

  describe('rejects', () => {
    it.each([
      [
        'an invalid version',
        { version: 'v1.0' },
        /Version "v1.0" must be SemVer/,
      ],
      [
        'an invalid namespace',
        { environment: { name: 'dev', namespace: 'Shop' } },
        /namespace "Shop"/,
      ],
      [
        'an invalid environment name',
        { environment: { name: 'a b', namespace: 'shop' } },
        /Environment name/,
      ],
      [
        'a bad minReplicas',
        { environment: { name: 'dev', namespace: 'shop', minReplicas: 0 } },
        /minReplicas/,
      ],
      [
        'an unknown placeholder',
        { environment: { name: 'dev', namespace: 'shop', shared: SHARED } },
        /Unknown placeholder "#{LogLevel}"/,
      ],
      [
        'a tampered snapshot',
        (() => {
          const manifest = parseManifest(manifestYaml);
          manifest.deployment.spec!.template.spec!.hostNetwork = true;
          return { manifest };
        })(),
        /hostNetwork/,
      ],
    ])('%s', (_name, overrides, message) => {
      expect(() => render(overrides as Partial<RenderInput>)).toThrow(
        InputError,
      );
      expect(() => render(overrides as Partial<RenderInput>)).toThrow(message);
    });
  });
});
