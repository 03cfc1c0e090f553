import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { catalogLocationsExtensionPoint } from '@backstage/plugin-catalog-node';
import type { JsonObject } from '@backstage/types';
import { catalogModuleKubeDeliveryFileLocations } from './module';

/*
 * The switch: file locations only when kubeDelivery.catalog.allowFileLocations
 * is true; otherwise the catalog keeps its own allowed types.
 */
describe('catalogModuleKubeDeliveryFileLocations', () => {
  async function allowedTypes(data: JsonObject) {
    const setAllowedLocationTypes = jest.fn();
    const backend = await startTestBackend({
      extensionPoints: [
        [catalogLocationsExtensionPoint, { setAllowedLocationTypes }],
      ],
      features: [
        catalogModuleKubeDeliveryFileLocations,
        mockServices.rootConfig.factory({ data }),
      ],
    });
    await backend.stop();
    return setAllowedLocationTypes.mock.calls;
  }

  it('allows file locations when switched on', async () => {
    await expect(
      allowedTypes({ kubeDelivery: { catalog: { allowFileLocations: true } } }),
    ).resolves.toEqual([[['url', 'file']]]);
  });

  it.each([
    ['unset', {}],
    ['false', { kubeDelivery: { catalog: { allowFileLocations: false } } }],
    // The old trigger no longer switches it on.
    [
      'only a publishDirectory',
      { kubeDelivery: { scaffolder: { publishDirectory: '/tmp/services' } } },
    ],
  ])('changes nothing when %s', async (_, data) => {
    await expect(allowedTypes(data)).resolves.toEqual([]);
  });
});
