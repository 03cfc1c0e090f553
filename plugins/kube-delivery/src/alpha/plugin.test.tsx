import plugin from './plugin';

describe('kube-delivery alpha plugin', () => {
  it('provides the API and the Environments entity content', () => {
    expect(plugin.getExtension('api:kube-delivery')).toBeDefined();
    expect(
      plugin.getExtension('entity-content:kube-delivery/environments'),
    ).toBeDefined();
  });
});
