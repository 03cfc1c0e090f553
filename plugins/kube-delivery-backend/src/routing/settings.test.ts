import { ConfigReader } from '@backstage/config';
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
