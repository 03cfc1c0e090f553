import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { kubeDeliveryPlugin } from '../plugin';
import { checkStaticTokens, MIN_STATIC_TOKEN_LENGTH } from './staticTokens';

const GOOD = 'q2Jc0Zr6b1Vh5m8NwXyT3kLp9sDf7gHa'; // 32 characters
const restricted = [{ plugin: 'kube-delivery' }];

function configWith(...externalAccess: unknown[]) {
  return new ConfigReader({ backend: { auth: { externalAccess } } } as any);
}

describe('checkStaticTokens', () => {
  it('accepts a long static token, other kinds of access, and no config at all', () => {
    const logger = mockServices.logger.mock();
    expect(GOOD).toHaveLength(MIN_STATIC_TOKEN_LENGTH);
    checkStaticTokens(
      configWith(
        {
          type: 'static',
          options: { token: GOOD, subject: 'ci' },
          accessRestrictions: restricted,
        },
        { type: 'jwks', options: { url: 'https://issuer.example/jwks' } },
      ),
      logger,
    );
    checkStaticTokens(new ConfigReader({}), logger);
    expect(logger.warn).not.toHaveBeenCalled();
  });

  it('refuses a configured token that is missing or empty, naming the entry and the variable', () => {
    for (const options of [{ subject: 'ci' }, { subject: 'ci', token: '' }]) {
      expect(() =>
        checkStaticTokens(
          configWith({
            type: 'static',
            options,
            accessRestrictions: restricted,
          }),
        ),
      ).toThrow(
        /^backend\.auth\.externalAccess\[0\] \(static token of subject "ci"\) has no token: .*KUBE_DELIVERY_CI_TOKEN/,
      );
    }
  });

  it(`refuses a token shorter than ${MIN_STATIC_TOKEN_LENGTH} characters, the old default among them`, () => {
    expect(() =>
      checkStaticTokens(
        configWith(
          { type: 'static', options: { token: GOOD, subject: 'ci' } },
          {
            type: 'static',
            options: { token: 'local-ci-token-change-me', subject: 'ops' },
          },
        ),
      ),
    ).toThrow(
      /^backend\.auth\.externalAccess\[1\] \(static token of subject "ops"\) is 24 characters long; Kube Delivery starts only with static tokens of at least 32 random characters/,
    );
  });

  it('warns about a static token without accessRestrictions', () => {
    const logger = mockServices.logger.mock();
    checkStaticTokens(
      configWith({ type: 'static', options: { token: GOOD, subject: 'ci' } }),
      logger,
    );
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringMatching(
        /\[0\] \(static token of subject "ci"\) has no accessRestrictions/,
      ),
    );
  });
});

describe('the plugin with a weak static token', () => {
  it('does not start', async () => {
    await expect(
      startTestBackend({
        features: [
          kubeDeliveryPlugin,
          mockServices.rootConfig.factory({
            data: {
              backend: {
                auth: {
                  externalAccess: [
                    {
                      type: 'static',
                      options: { token: 'short-token', subject: 'ci' },
                      accessRestrictions: restricted,
                    },
                  ],
                },
              },
            },
          }),
          catalogServiceMock.factory({ entities: [] }),
        ],
      }),
    ).rejects.toThrow(
      /is 11 characters long; Kube Delivery starts only with static tokens of at least 32/,
    );
  });
});
