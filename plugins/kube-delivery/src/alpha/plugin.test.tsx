import { screen } from '@testing-library/react';
import {
  createExtensionTester,
  renderInTestApp,
} from '@backstage/frontend-test-utils';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import {
  EntityCardBlueprint,
  EntityContentBlueprint,
} from '@backstage/plugin-catalog-react/alpha';
import { coreExtensionData } from '@backstage/frontend-plugin-api';
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

  it.each(TABS)('groups the %s tab under deployment', name => {
    const tester = createExtensionTester(
      plugin.getExtension(`entity-content:kube-delivery/${name}`),
    );
    expect(tester.get(EntityContentBlueprint.dataRefs.group)).toBe(
      'deployment',
    );
  });

  it('adds the Deliveries page (in the sidebar: a page with a title and an icon)', () => {
    const tester = createExtensionTester(
      plugin.getExtension('page:kube-delivery'),
    );
    expect(tester.get(coreExtensionData.routePath)).toBe('/kube-delivery');
    expect(tester.get(coreExtensionData.title)).toBe('Deliveries');
    expect(tester.get(coreExtensionData.icon)).toBeDefined();
  });

  it('adds the Deliveries tab to Systems and Groups only', () => {
    const tester = createExtensionTester(
      plugin.getExtension('entity-content:kube-delivery/deliveries'),
    );
    const filter = tester.get(EntityContentBlueprint.dataRefs.filterFunction)!;
    const of = (kind: string) => ({ ...plain, kind });
    expect(filter(of('System'))).toBe(true);
    expect(filter(of('Group'))).toBe(true);
    expect(filter(of('Component'))).toBe(false);
  });

  it("adds the Overview card to delivered services' pages only", () => {
    const tester = createExtensionTester(
      plugin.getExtension('entity-card:kube-delivery/overview'),
    );
    const filter = tester.get(EntityCardBlueprint.dataRefs.filterFunction)!;
    expect(filter(entity)).toBe(true);
    expect(filter(plain)).toBe(false);
  });
});
