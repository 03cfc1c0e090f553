import { screen } from '@testing-library/react';
import {
  createExtensionTester,
  renderInTestApp,
} from '@backstage/frontend-test-utils';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { EntityContentBlueprint } from '@backstage/plugin-catalog-react/alpha';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { mockApis } from '@backstage/test-utils';
import { kubeDeliveryApiRef } from '../api';
import { entity, mockApi } from '../__testUtils__/fixtures';
import plugin from './plugin';

jest.setTimeout(30_000);

const TABS = [
  ['environments', 'Environments'],
  ['feature-branches', 'Feature branches'],
  ['release-history', 'Release history'],
] as const;

const plain = {
  ...entity,
  metadata: { name: 'website', namespace: 'default', annotations: {} },
};

describe('kube-delivery alpha plugin', () => {
  it('provides the API', () => {
    expect(plugin.getExtension('api:kube-delivery')).toBeDefined();
  });

  it.each(TABS)(
    'shows the %s tab, titled "%s", only on entities with the image annotation',
    (name, title) => {
      const tester = createExtensionTester(
        plugin.getExtension(`entity-content:kube-delivery/${name}`),
      );
      expect(tester.get(EntityContentBlueprint.dataRefs.title)).toBe(title);
      const filter = tester.get(EntityContentBlueprint.dataRefs.filterFunction);
      expect(filter).toBeDefined();
      expect(filter!(entity)).toBe(true);
      expect(filter!(plain)).toBe(false);
    },
  );

  it('loads a tab lazily and renders it with the API', async () => {
    const api = mockApi();
    const tester = createExtensionTester(
      plugin.getExtension('entity-content:kube-delivery/release-history'),
    );
    await renderInTestApp(
      <EntityProvider entity={entity}>{tester.reactElement()}</EntityProvider>,
      {
        apis: [
          [kubeDeliveryApiRef, api],
          [permissionApiRef, mockApis.permission()],
        ],
      },
    );
    expect(await screen.findByText('No history yet')).toBeInTheDocument();
    expect(api.getHistory).toHaveBeenCalledWith('component:default/cart', {
      environment: undefined,
      kind: undefined,
      limit: 20,
      before: undefined,
    });
  });
});
