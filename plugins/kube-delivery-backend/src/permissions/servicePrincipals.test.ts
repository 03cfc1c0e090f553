import { mockCredentials } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import {
  kubeDeliveryDeployPermission,
  kubeDeliveryReadPermission,
} from '@internal/plugin-kube-delivery-common';
import {
  readServicePrincipals,
  servicePrincipalDecision,
  type ServicePrincipalGrant,
} from './servicePrincipals';

const DEPLOY = 'kube-delivery.deployment.create';
const READ = 'kube-delivery.read';

const grants: ServicePrincipalGrant[] = [
  { subject: 'ci', permissions: [READ, DEPLOY], environments: ['dev', 'test'] },
  { subject: 'plugin:reporting', permissions: [READ] },
];

describe('servicePrincipalDecision', () => {
  it('leaves users to the policy, also a plugin acting on behalf of one', () => {
    for (const credentials of [
      mockCredentials.user('user:default/alice'),
      mockCredentials.user('user:default/alice', {
        actor: { subject: 'plugin:scaffolder' },
      }),
      mockCredentials.none(),
    ]) {
      expect(
        servicePrincipalDecision(
          credentials,
          { permission: DEPLOY, environment: 'production' },
          grants,
        ),
      ).toEqual({ result: 'not-a-service' });
    }
  });

  it('allows a granted subject its permissions in its environments', () => {
    const ci = mockCredentials.service('ci');
    expect(
      servicePrincipalDecision(
        ci,
        { permission: kubeDeliveryDeployPermission, environment: 'dev' },
        grants,
      ),
    ).toEqual({ result: 'allow', subject: 'ci' });
    expect(
      servicePrincipalDecision(
        ci,
        { permission: DEPLOY, environment: 'test' },
        grants,
      ).result,
    ).toBe('allow');
    // Not in an environment (creating a release, reading): environments do not apply.
    expect(
      servicePrincipalDecision(ci, { permission: DEPLOY }, grants).result,
    ).toBe('allow');
    // No environments in the grant: every environment.
    expect(
      servicePrincipalDecision(
        mockCredentials.service('plugin:reporting'),
        { permission: kubeDeliveryReadPermission, environment: 'production' },
        grants,
      ).result,
    ).toBe('allow');
  });

  it('refuses a granted subject elsewhere, naming the subject and what it may do', () => {
    expect(
      servicePrincipalDecision(
        mockCredentials.service('ci'),
        { permission: DEPLOY, environment: 'production' },
        grants,
      ),
    ).toEqual({
      result: 'deny',
      subject: 'ci',
      message: `Service principal "ci" may not ${DEPLOY} in production; kubeDelivery.servicePrincipals grants it only in dev, test`,
    });
    expect(
      servicePrincipalDecision(
        mockCredentials.service('plugin:reporting'),
        { permission: DEPLOY, environment: 'dev' },
        grants,
      ),
    ).toEqual({
      result: 'deny',
      subject: 'plugin:reporting',
      message: `Service principal "plugin:reporting" may not ${DEPLOY}; kubeDelivery.servicePrincipals grants it ${READ}`,
    });
  });

  it('refuses every other service principal, naming it', () => {
    for (const subject of [
      'plugin:catalog',
      'external:backstage-plugin',
      'CI',
    ]) {
      const decision = servicePrincipalDecision(
        mockCredentials.service(subject),
        { permission: READ },
        grants,
      );
      expect(decision).toMatchObject({ result: 'deny', subject });
      expect(decision.result === 'deny' && decision.message).toContain(
        `Service principal "${subject}" may not use Kube Delivery`,
      );
    }
    expect(
      servicePrincipalDecision(
        mockCredentials.service('ci'),
        { permission: READ },
        [],
      ).result,
    ).toBe('deny');
  });

  it('unions the grants of one subject', () => {
    const two: ServicePrincipalGrant[] = [
      { subject: 'ci', permissions: [DEPLOY], environments: ['dev'] },
      { subject: 'ci', permissions: [DEPLOY], environments: ['test'] },
    ];
    const ci = mockCredentials.service('ci');
    expect(
      ['dev', 'test', 'production'].map(
        environment =>
          servicePrincipalDecision(ci, { permission: DEPLOY, environment }, two)
            .result,
      ),
    ).toEqual(['allow', 'allow', 'deny']);
  });
});

describe('readServicePrincipals', () => {
  const read = (servicePrincipals: unknown, environments?: string[]) =>
    readServicePrincipals(
      new ConfigReader({ kubeDelivery: { servicePrincipals } } as any),
      { environments },
    );

  it('reads the grants; none when absent', () => {
    expect(readServicePrincipals(new ConfigReader({}))).toEqual([]);
    expect(
      read(
        [
          { subject: 'ci', permissions: [DEPLOY], environments: ['dev'] },
          { subject: 'plugin:reporting', permissions: [READ] },
        ],
        ['dev', 'test'],
      ),
    ).toEqual([
      { subject: 'ci', permissions: [DEPLOY], environments: ['dev'] },
      { subject: 'plugin:reporting', permissions: [READ] },
    ]);
  });

  it('refuses an unknown permission, environment, an empty list or a subject with spaces', () => {
    expect(() => read([{ subject: 'ci', permissions: ['deploy'] }])).toThrow(
      /servicePrincipals\[0\]\.permissions: "deploy" is not a Kube Delivery permission; the permissions are .*kube-delivery\.deployment\.create/,
    );
    expect(() =>
      read(
        [{ subject: 'ci', permissions: [DEPLOY], environments: ['prod'] }],
        ['dev', 'production'],
      ),
    ).toThrow(
      /servicePrincipals\[0\]\.environments: "prod" is not a configured environment; they are dev, production/,
    );
    expect(() => read([{ subject: 'ci', permissions: [] }])).toThrow(
      /at least one permission/,
    );
    expect(() => read([{ subject: 'my ci', permissions: [READ] }])).toThrow(
      /without spaces/,
    );
    expect(() => read([{ permissions: [READ] }])).toThrow(/subject/);
  });
});
