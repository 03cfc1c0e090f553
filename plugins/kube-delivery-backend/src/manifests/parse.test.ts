/* eslint jest/expect-expect: ["warn", { "assertFunctionNames": ["expect", "expectRejected"] }] */
import { InputError } from '@backstage/errors';
import { parseManifest } from './parse';

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: adservice
  labels: { app: adservice }
spec:
  selector:
    matchLabels: { app: adservice }
  template:
    metadata:
      labels: { app: adservice }
    spec:
      containers:
        - name: server
          image: example/adservice:0.0.1
          ports:
            - containerPort: 9555
          env:
            - name: PORT
              value: "9555"
`;
const service = `
apiVersion: v1
kind: Service
metadata:
  name: adservice
spec:
  selector: { app: adservice }
  ports:
    - name: grpc
      port: 9555
      targetPort: 9555
`;
const configMap = `
apiVersion: v1
kind: ConfigMap
metadata:
  name: adservice-config
data:
  LOG_LEVEL: info
`;
const secret = `
apiVersion: v1
kind: Secret
metadata:
  name: adservice-secret
stringData:
  TOKEN: s3cr3t
`;
const smokeTest = `
apiVersion: batch/v1
kind: Job
metadata:
  name: adservice-smoke
  annotations:
    kube-delivery.io/smoke-test: "true"
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: probe
          image: example/grpc-probe:1.0
`;

function docs(...parts: string[]): string {
  return parts.join('\n---\n');
}

/** A Deployment whose pod spec has `patch` (YAML lines, 6-space indent) appended. */
function deploymentWith(podSpecYaml: string): string {
  return `${deployment}${podSpecYaml
    .split('\n')
    .map(line => `      ${line}`)
    .join('\n')}\n`;
}

function expectRejected(text: string, message: string | RegExp) {
  const start = Date.now();
  let error: unknown;
  try {
    parseManifest(text);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(InputError);
  expect((error as Error).message).toMatch(message);
  expect(Date.now() - start).toBeLessThan(2000);
}

describe('parseManifest', () => {
  it('sorts a full manifest by kind', () => {
    const manifest = parseManifest(
      docs(
        `# leading comment`,
        deployment,
        service,
        configMap,
        secret,
        smokeTest,
      ),
    );
    expect(manifest.deployment.metadata?.name).toBe('adservice');
    expect(manifest.deployment.spec?.template.spec?.containers[0].env).toEqual([
      { name: 'PORT', value: '9555' },
    ]);
    expect(manifest.service?.spec?.ports?.[0].port).toBe(9555);
    expect(manifest.configMaps.map(c => c.metadata?.name)).toEqual([
      'adservice-config',
    ]);
    expect(manifest.secrets.map(s => s.metadata?.name)).toEqual([
      'adservice-secret',
    ]);
    expect(manifest.smokeTest?.metadata?.name).toBe('adservice-smoke');
    // Plain JSON data, nothing else.
    expect(JSON.parse(JSON.stringify(manifest))).toEqual(manifest);
  });

  it('accepts a Deployment alone, with anchors used a few times', () => {
    const text = `${deployment}      nodeSelector: &sel { pool: general }\n`;
    expect(parseManifest(text).service).toBeUndefined();
    const anchored = deploymentWith(
      [
        'initContainers:',
        '  - name: init',
        '    image: example/init:1',
        '    env: &env [{ name: MODE, value: fast }]',
        '  - name: init2',
        '    image: example/init:1',
        '    env: *env',
      ].join('\n'),
    );
    const containers =
      parseManifest(anchored).deployment.spec?.template.spec?.initContainers;
    expect(containers?.[1].env).toEqual(containers?.[0].env);
    expect(containers?.[1].env).not.toBe(containers?.[0].env);
  });

  it('does not apply merge keys', () => {
    const podSpec = parseManifest(
      `${deployment}      <<: { hostNetwork: true }\n`,
    ).deployment.spec?.template.spec as unknown as Record<string, unknown>;
    expect(podSpec.hostNetwork).toBeUndefined();
    expect(podSpec['<<']).toEqual({ hostNetwork: true });
  });

  it('ignores empty documents', () => {
    expect(
      parseManifest(`---\n---\n${deployment}\n---\n`).deployment.kind,
    ).toBe('Deployment');
  });

  describe('rejects hostile YAML', () => {
    it('an alias bomb', () => {
      const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
      for (let i = 1; i < 12; i++) {
        lines.push(
          `a${i}: &a${i} [${Array(10)
            .fill(`*a${i - 1}`)
            .join(', ')}]`,
        );
      }
      expectRejected(
        `${deployment}      nodeSelector:\n${lines
          .map(l => `        ${l}`)
          .join('\n')}\n`,
        /resource exhaustion|Excessive alias|more than 100000 values/i,
      );
    });

    it('a self-referencing alias', () => {
      expectRejected(`a: &a [*a, *a, *a]\n`, /not acceptable YAML/);
    });

    it('10 MB of text, without parsing it', () => {
      expectRejected(
        `a: "${'x'.repeat(10 * 1024 * 1024)}"\n`,
        /larger than 256 KiB/,
      );
    });

    it('256 KiB of multi-byte text', () => {
      expectRejected(`a: "${'é'.repeat(140 * 1024)}"\n`, /larger than 256 KiB/);
    });

    it.each([
      ['flow sequences', `a: ${'['.repeat(1000)}${']'.repeat(1000)}`],
      ['flow maps', `a: ${'{a: '.repeat(1000)}1${'}'.repeat(1000)}`],
      ['compact block sequences', `${'- '.repeat(1000)}x`],
      [
        'block maps',
        `${Array.from({ length: 200 }, (_, i) => `${' '.repeat(i)}a:`).join(
          '\n',
        )} 1`,
      ],
      ['100k-deep flow nesting', `${'['.repeat(100000)}${']'.repeat(100000)}`],
    ])('%s nested too deeply', (_name, text) => {
      expectRejected(text, /nesting deeper than 64 levels/);
    });

    it.each([
      ['!!js/function', 'a: !!js/function "function () { return 1 }"'],
      ['!custom', 'a: !custom 1'],
      ['!!python/object', 'a: !!python/object:os.system [ls]'],
      ['!<verbatim>', 'a: !<tag:yaml.org,2002:str> x'],
      ['!!binary', 'a: !!binary aGVsbG8='],
      ['!!str', 'a: !!str 1'],
      ['a tag on a collection', 'a: !set { x: 1 }'],
    ])('the tag %s', (_name, text) => {
      expectRejected(text, /tags such as .* are not allowed/);
    });

    it.each([
      ['%TAG', '%TAG !e! tag:example.com,2000:\n---\na: 1'],
      ['%YAML 1.1', '%YAML 1.1\n---\na: yes'],
    ])('the directive %s', (_name, text) => {
      expectRejected(text, /directives .* are not allowed/);
    });

    it.each([
      ['duplicate keys', 'a: 1\na: 2', /unique/],
      ['syntax errors', 'a: [1, 2', /not acceptable YAML/],
      [
        '.inf',
        `${deployment}      terminationGracePeriodSeconds: .inf\n`,
        /\.inf and \.nan/,
      ],
      [
        '__proto__ keys',
        `${deployment}      __proto__: { hostNetwork: true }\n`,
        /__proto__/,
      ],
      [
        'more than 20 documents',
        docs(...Array(21).fill('a: 1')),
        /more than 20 documents/,
      ],
      [
        'more than 100 raw documents',
        '---\n'.repeat(101),
        /more than 100 documents/,
      ],
      [
        'a scalar document',
        'just text',
        /document 1: is not a Kubernetes object/,
      ],
      ['a list document', '- a\n- b', /is not a Kubernetes object/],
    ])('%s', (_name, text, message) => {
      expectRejected(text, message);
    });
  });

  describe('rejects objects a service may not ship', () => {
    it.each([
      ['no Deployment', docs(service), /has no Deployment/],
      [
        'two Deployments',
        docs(deployment, deployment),
        /document 2 .*second Deployment/,
      ],
      [
        'two Services',
        docs(deployment, service, service),
        /document 3 .*second Service/,
      ],
      [
        'a Namespace',
        docs(
          deployment,
          'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: evil',
        ),
        /document 2 \("Namespace" "evil"\): is "Namespace" of apiVersion "v1", which is not allowed; a manifest holds one apps\/v1 Deployment/,
      ],
      [
        'a ClusterRole',
        docs(
          deployment,
          'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: admin\nrules: []',
        ),
        /"ClusterRole" .*not allowed/,
      ],
      [
        'a second ServiceAccount',
        docs(
          deployment,
          'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: adservice',
          'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: other',
        ),
        /second ServiceAccount/,
      ],
      [
        'an older Deployment API',
        deployment.replace('apps/v1', 'apps/v1beta1'),
        /not allowed/,
      ],
      [
        'a Job that is not a smoke test',
        docs(
          deployment,
          smokeTest.replace('kube-delivery.io/smoke-test: "true"', 'x: y'),
        ),
        /only a smoke test may be a Job/,
      ],
      [
        'a smoke-test annotation that is not the string "true"',
        docs(deployment, smokeTest.replace('"true"', 'yes')),
        /only a smoke test may be a Job/,
      ],
      [
        'two smoke tests',
        docs(deployment, smokeTest, smokeTest),
        /second smoke-test Job/,
      ],
      [
        'a namespace',
        deployment.replace(
          '  name: adservice\n',
          '  name: adservice\n  namespace: kube-system\n',
        ),
        /document 1 .*metadata.namespace must not be set/,
      ],
      [
        'an invalid name',
        deployment.replace('name: adservice', 'name: AdService'),
        /metadata.name must be an RFC 1123 label/,
      ],
      [
        'a long name',
        deployment.replace('name: adservice', `name: ${'a'.repeat(64)}`),
        /RFC 1123/,
      ],
      [
        'a missing name',
        deployment.replace('  name: adservice\n', ''),
        /RFC 1123/,
      ],
      [
        'missing metadata',
        'apiVersion: v1\nkind: ConfigMap',
        /metadata is missing/,
      ],
      [
        'a duplicate ConfigMap',
        docs(deployment, configMap, configMap),
        /is used twice/,
      ],
      [
        'a numeric ConfigMap value',
        docs(deployment, configMap.replace('info', '8080')),
        /data.LOG_LEVEL must be a string/,
      ],
      [
        'a service-account token Secret',
        docs(
          deployment,
          `${secret}type: kubernetes.io/service-account-token\n`,
        ),
        /type must be one of Opaque/,
      ],
      [
        'a LoadBalancer Service',
        docs(deployment, `${service}  type: LoadBalancer\n`),
        /spec.type only ClusterIP/,
      ],
      [
        'a NodePort Service',
        docs(deployment, `${service}  type: NodePort\n`),
        /only ClusterIP/,
      ],
      [
        'an ExternalName Service',
        docs(deployment, `${service}  type: ExternalName\n`),
        /only ClusterIP/,
      ],
      [
        'a placeholder where only fixed values are safe',
        docs(deployment, `${service}  type: "#{ServiceType}"\n`),
        /only ClusterIP/,
      ],
      [
        'external IPs',
        docs(deployment, `${service}  externalIPs: [1.2.3.4]\n`),
        /externalIPs is not allowed/,
      ],
      [
        'a fixed cluster IP',
        docs(deployment, `${service}  clusterIP: 10.0.0.1\n`),
        /clusterIP may only be "None"/,
      ],
      [
        'too many replicas',
        deployment.replace(
          'spec:\n  selector',
          'spec:\n  replicas: 1000\n  selector',
        ),
        /spec.replicas must be an integer from 0 to 50/,
      ],
      [
        'string replicas',
        deployment.replace(
          'spec:\n  selector',
          'spec:\n  replicas: "3"\n  selector',
        ),
        /spec.replicas/,
      ],
      [
        'no pod template',
        'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec: {}',
        /spec.template is missing/,
      ],
      [
        'no containers',
        deployment.replace(/containers:[\s\S]*$/, 'containers: []\n'),
        /must list at least one container/,
      ],
    ])('%s', (_name, text, message) => {
      expectRejected(text, message);
    });

    it.each([
      [
        'hostNetwork: true',
        /spec.template.spec.hostNetwork host namespaces are not allowed/,
      ],
      ['hostNetwork: "true"', /hostNetwork/],
      ['hostPID: true', /hostPID/],
      ['hostIPC: true', /hostIPC/],
      [
        'volumes: [{ name: root, hostPath: { path: / } }]',
        /volumes\[0\].hostPath hostPath volumes are not allowed/,
      ],
      [
        'initContainers: [{ name: i, image: x, securityContext: { privileged: true } }]',
        /initContainers\[0\].securityContext.privileged privileged containers are not allowed/,
      ],
      [
        'ephemeralContainers: [{ name: e, image: x, securityContext: { capabilities: { add: [SYS_ADMIN] } } }]',
        /capabilities.add "SYS_ADMIN" is not allowed/,
      ],
      [
        'securityContext: { seccompProfile: { type: Unconfined } }',
        /seccompProfile Unconfined/,
      ],
      [
        'securityContext: { sysctls: [{ name: kernel.msgmax, value: "1" }] }',
        /not a safe sysctl/,
      ],
      [
        'securityContext: { windowsOptions: { hostProcess: true } }',
        /host processes/,
      ],
    ])('a pod spec with %s', (patch, message) => {
      expectRejected(deploymentWith(patch), message);
    });

    it.each([
      ['privileged: true', /containers\[0\].securityContext.privileged/],
      ['privileged: yes', /privileged/],
      ['procMount: Unmasked', /procMount only Default/],
      ['capabilities: { add: [NET_ADMIN] }', /"NET_ADMIN" is not allowed/],
    ])('a container securityContext with %s', (patch, message) => {
      const text = deployment.replace(
        '          image: example/adservice:0.0.1\n',
        `          image: example/adservice:0.0.1\n          securityContext: { ${patch} }\n`,
      );
      expectRejected(text, message);
    });

    it('a host port', () => {
      expectRejected(
        deployment.replace(
          '- containerPort: 9555',
          '- containerPort: 9555\n              hostPort: 80',
        ),
        /ports\[0\].hostPort host ports are not allowed/,
      );
    });

    it('hostNetwork in the smoke test too', () => {
      expectRejected(
        docs(
          deployment,
          smokeTest.replace(
            'restartPolicy: Never',
            'restartPolicy: Never\n      hostNetwork: true',
          ),
        ),
        /document 2 \("Job" "adservice-smoke"\): spec.template.spec.hostNetwork/,
      );
    });
  });

  it('allows what the baseline allows', () => {
    const text = deploymentWith(
      [
        'hostNetwork: false',
        'securityContext: { runAsNonRoot: true, seccompProfile: { type: RuntimeDefault }, sysctls: [{ name: net.ipv4.tcp_syncookies, value: "1" }] }',
        'volumes: [{ name: tmp, emptyDir: {} }]',
      ].join('\n'),
    ).replace(
      '          image: example/adservice:0.0.1\n',
      '          image: example/adservice:0.0.1\n          securityContext: { privileged: false, capabilities: { drop: [ALL], add: [NET_BIND_SERVICE] } }\n',
    );
    expect(
      parseManifest(text).deployment.spec?.template.spec?.hostNetwork,
    ).toBe(false);
  });
});
