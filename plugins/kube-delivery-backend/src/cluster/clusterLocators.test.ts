import { mockServices } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import { ClusterLocator, readConfigClusters } from './clusterLocators';
import type { ClusterTarget } from './connection';

const logger = mockServices.logger.mock();

const kubernetes = (clusters: object[]) =>
  new ConfigReader({
    kubernetes: { clusterLocatorMethods: [{ type: 'config', clusters }] },
  });

const target: ClusterTarget = {
  name: 'production',
  namespace: 'production',
  clusterName: 'prod-eu',
};

describe('clusters of kubernetes.clusterLocatorMethods', () => {
  it('reads config clusters as the Kubernetes plugin does, legacy fields into authMetadata', () => {
    const [cluster] = readConfigClusters(
      kubernetes([
        {
          name: 'prod-eu',
          url: 'https://prod.example:6443',
          caData: 'Q0E=',
          authProvider: 'aws',
          assumeRole: 'arn:aws:iam::1:role/deployer',
          externalId: 'x',
          authMetadata: { 'kubernetes.io/x-k8s-aws-id': 'prod-eu' },
        },
      ]),
    );
    expect(cluster).toMatchObject({
      locator: 'config',
      name: 'prod-eu',
      url: 'https://prod.example:6443',
      caData: 'Q0E=',
      skipTLSVerify: false,
      authMetadata: {
        'kubernetes.io/auth-provider': 'aws',
        'kubernetes.io/aws-assume-role': 'arn:aws:iam::1:role/deployer',
        'kubernetes.io/aws-external-id': 'x',
        'kubernetes.io/x-k8s-aws-id': 'prod-eu',
      },
    });
  });

  it("uses the environment's own token, with the cluster's URL and CA", async () => {
    const locator = new ClusterLocator({
      config: kubernetes([
        {
          name: 'prod-eu',
          url: 'https://prod.example:6443',
          caData: 'Q0E=',
          authProvider: 'oidc',
        },
      ]),
      logger,
    });
    const located = locator.targetFor(
      { ...target, serviceAccountTokenFile: '/var/run/deployer/token' },
      await locator.locate('prod-eu'),
    );
    expect(located).toMatchObject({
      url: 'https://prod.example:6443',
      caData: 'Q0E=',
      serviceAccountTokenFile: '/var/run/deployer/token',
    });
    expect(located.credentials).toBeUndefined();
  });

  it("without a token of its own, uses the Kubernetes plugin's serviceAccount strategy", async () => {
    const locator = new ClusterLocator({
      config: kubernetes([
        {
          name: 'prod-eu',
          url: 'https://prod.example:6443',
          authProvider: 'serviceAccount',
          serviceAccountToken: 'token-of-the-deployer',
        },
      ]),
      logger,
    });
    const located = locator.targetFor(target, await locator.locate('prod-eu'));
    expect(located.credentials?.description).toBe(
      'the "serviceAccount" credentials of cluster "prod-eu" (kubernetes.clusterLocatorMethods)',
    );
    await expect(located.credentials!.get()).resolves.toEqual({
      type: 'bearer token',
      token: 'token-of-the-deployer',
    });
  });

  it.each(['oidc', 'google', 'aks'])(
    'refuses %s, which needs a signed-in user, and says what to configure instead',
    async provider => {
      const locator = new ClusterLocator({
        config: kubernetes([
          {
            name: 'prod-eu',
            url: 'https://prod.example:6443',
            authProvider: provider,
          },
        ]),
        logger,
      });
      const cluster = await locator.locate('prod-eu');
      expect(() => locator.targetFor(target, cluster)).toThrow(
        `Cluster "prod-eu" authenticates with "${provider}", which presents the signed-in user's token; a queued deploy has none. Give environment "production" a namespace-scoped cluster.serviceAccountToken or serviceAccountTokenFile`,
      );
    },
  );

  it('names the clusters it knows when one is missing', async () => {
    const locator = new ClusterLocator({
      config: kubernetes([
        {
          name: 'dev-eu',
          url: 'https://dev.example:6443',
          authProvider: 'serviceAccount',
        },
      ]),
      logger,
    });
    await expect(locator.locate('prod-eu')).rejects.toThrow(
      'No cluster "prod-eu" in kubernetes.clusterLocatorMethods (config clusters: dev-eu; no catalog locator)',
    );
  });
});
