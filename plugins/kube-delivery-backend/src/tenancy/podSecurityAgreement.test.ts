import { mockServices } from '@backstage/backend-test-utils';
import { InputError } from '@backstage/errors';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import type { V1Deployment } from '@kubernetes/client-node';
import { uniqueName } from '../__testUtils__/deliveryHarness';
import { createEnvironmentCluster, type EnvironmentCluster } from '../cluster';
import { checkManifestObjects } from '../manifests';

jest.setTimeout(120_000);

type Mutation = (deployment: V1Deployment) => void;
const pod = (d: V1Deployment) => d.spec!.template.spec!;
const container = (d: V1Deployment) => pod(d).containers[0];

/**
 * Pod specs the Pod Security Standards "baseline" profile refuses. Each is
 * refused by the plugin's own check (a 400 when the release is created)
 * and, independently, by the API server's PodSecurity admission in a
 * namespace labelled `warn: baseline` (the server-side dry run's warning,
 * which refuses the deploy): the two lines of defence agree.
 */
const CASES: Array<[string, Mutation]> = [
  [
    'a privileged container',
    d => void (container(d).securityContext = { privileged: true }),
  ],
  ['the host network', d => void (pod(d).hostNetwork = true)],
  ['the host PID namespace', d => void (pod(d).hostPID = true)],
  ['the host IPC namespace', d => void (pod(d).hostIPC = true)],
  [
    'a hostPath volume',
    d => void (pod(d).volumes = [{ name: 'root', hostPath: { path: '/' } }]),
  ],
  [
    'a host port',
    d => void (container(d).ports = [{ containerPort: 8080, hostPort: 8080 }]),
  ],
  [
    'an added NET_ADMIN capability',
    d =>
      void (container(d).securityContext = {
        capabilities: { add: ['NET_ADMIN'] },
      }),
  ],
  [
    'an Unconfined seccomp profile (pod)',
    d =>
      void (pod(d).securityContext = {
        seccompProfile: { type: 'Unconfined' },
      }),
  ],
  [
    'an Unconfined seccomp profile (container)',
    d =>
      void (container(d).securityContext = {
        seccompProfile: { type: 'Unconfined' },
      }),
  ],
  [
    'an Unconfined AppArmor profile',
    d =>
      void (container(d).securityContext = {
        appArmorProfile: { type: 'Unconfined' },
      }),
  ],
  [
    'an unconfined AppArmor annotation',
    d =>
      void (d.spec!.template.metadata!.annotations = {
        'container.apparmor.security.beta.kubernetes.io/app': 'unconfined',
      }),
  ],
  [
    'an SELinux type of spc_t',
    d => void (pod(d).securityContext = { seLinuxOptions: { type: 'spc_t' } }),
  ],
  [
    'an SELinux user',
    d =>
      void (container(d).securityContext = {
        seLinuxOptions: { user: 'system_u' },
      }),
  ],
  [
    'an SELinux role',
    d =>
      void (pod(d).securityContext = { seLinuxOptions: { role: 'sysadm_r' } }),
  ],
  [
    'an unsafe sysctl',
    d =>
      void (pod(d).securityContext = {
        sysctls: [{ name: 'kernel.msgmax', value: '65536' }],
      }),
  ],
];

function deployment(name: string, mutate?: Mutation): V1Deployment {
  const d: V1Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'example.test/app:1' }] },
      },
    },
  };
  mutate?.(d);
  return d;
}

describe('the plugin and PodSecurity admission agree on the baseline profile', () => {
  let cluster: DevCluster;
  let dev: EnvironmentCluster;
  const name = uniqueName('psa');

  beforeAll(async () => {
    cluster = await getDevCluster();
    dev = createEnvironmentCluster(
      {
        name: 'dev',
        namespace: 'dev',
        url: cluster.server,
        caData: cluster.caData,
        serviceAccountToken: cluster.tokens.dev,
      },
      mockServices.logger.mock(),
    );
  });

  it('accepts the plain pod spec, both of them', async () => {
    expect(() =>
      checkManifestObjects([{ number: 1, data: deployment(name) }]),
    ).not.toThrow();
    await expect(
      dev.dryRun([deployment(name) as any]),
    ).resolves.toBeUndefined();
  });

  it.each(CASES)('refuses %s, both of them', async (_what, mutate) => {
    const object = deployment(name, mutate);
    expect(() => checkManifestObjects([{ number: 1, data: object }])).toThrow(
      InputError,
    );
    const refusal = dev.dryRun([object as any]);
    await expect(refusal).rejects.toThrow(InputError);
    await expect(refusal).rejects.toThrow(
      'would violate PodSecurity "baseline:latest"',
    );
  });

  it('refuses an Unmasked /proc outside a user namespace, both of them', async () => {
    const object = deployment(name, d => {
      container(d).securityContext = { procMount: 'Unmasked' };
    });
    expect(() => checkManifestObjects([{ number: 1, data: object }])).toThrow(
      InputError,
    );
    // The API server does not let it reach PodSecurity: it is invalid.
    await expect(dev.dryRun([object as any])).rejects.toThrow(
      '`hostUsers` must be false to use `Unmasked`',
    );
  });

  it('accepts an Unmasked /proc in a user namespace, both of them', async () => {
    const object = deployment(name, d => {
      pod(d).hostUsers = false;
      container(d).securityContext = { procMount: 'Unmasked' };
    });
    expect(() =>
      checkManifestObjects([{ number: 1, data: object }]),
    ).not.toThrow();
    await expect(dev.dryRun([object as any])).resolves.toBeUndefined();
  });
});
