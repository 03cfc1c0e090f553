import { ConfigReader } from '@backstage/config';
import { readDeliveryConfig } from '../config/environments';
import { readRoutingSettings } from './settings';

const read = (routing?: object) =>
  readRoutingSettings(
    new ConfigReader(routing ? { kubeDelivery: { routing } } : {}),
  );

describe('readRoutingSettings', () => {
  it('defaults to 8 hours, at most 7 days, every minute', () => {
    expect(read()).toEqual({
      defaultTtlMinutes: 480,
      maxTtlMinutes: 10080,
      intervalSeconds: 60,
    });
  });

  it('takes configured values', () => {
    expect(
      read({ defaultTtlMinutes: 60, maxTtlMinutes: 120, intervalSeconds: 5 }),
    ).toEqual({
      defaultTtlMinutes: 60,
      maxTtlMinutes: 120,
      intervalSeconds: 5,
    });
  });

  it.each([
    [
      { defaultTtlMinutes: 0 },
      /defaultTtlMinutes must be a whole number from 1/,
    ],
    [{ maxTtlMinutes: 1.5 }, /maxTtlMinutes must be a whole number/],
    [{ intervalSeconds: 1 }, /intervalSeconds must be a whole number from 5/],
    [
      { defaultTtlMinutes: 600, maxTtlMinutes: 60 },
      /defaultTtlMinutes \(600\) must not exceed maxTtlMinutes \(60\)/,
    ],
  ])('refuses %p', (routing, message) => {
    expect(() => read(routing)).toThrow(message);
  });
});

describe('routingApi of an environment', () => {
  const environment = (extra: object) => ({
    name: 'dev',
    namespace: 'dev',
    cluster: { url: 'https://127.0.0.1:6443' },
    ...extra,
  });
  const routingApi = (extra: object) =>
    readDeliveryConfig(
      new ConfigReader({
        kubeDelivery: { environments: [environment(extra)] },
      }),
    ).environments[0].routingApi;

  it('is istio by default, follows a Gateway API gateway, and may be set', () => {
    expect(routingApi({})).toBe('istio');
    const gateway = { namespace: 'istio-system', name: 'ingressgateway' };
    expect(routingApi({ gateway })).toBe('istio');
    expect(routingApi({ gateway: { ...gateway, api: 'gateway-api' } })).toBe(
      'gateway-api',
    );
    expect(routingApi({ routingApi: 'gateway-api' })).toBe('gateway-api');
    expect(
      routingApi({
        routingApi: 'istio',
        gateway: { ...gateway, api: 'gateway-api' },
      }),
    ).toBe('istio');
  });

  it('refuses anything else', () => {
    expect(() => routingApi({ routingApi: 'nginx' })).toThrow(
      'kubeDelivery.environments: routingApi of "dev" must be istio or gateway-api',
    );
  });
});
