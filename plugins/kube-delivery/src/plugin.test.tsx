import { screen } from '@testing-library/react';
import { Route, Routes } from 'react-router-dom';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { kubeDeliveryApiRef } from './api';
import {
  EntityKubeDeliveryEnvironmentsContent,
  EntityKubeDeliveryFeatureBranchesContent,
  EntityKubeDeliveryReleaseHistoryContent,
  isKubeDeliveryAvailable,
} from './plugin';
import { entity, mockApi } from './__testUtils__/fixtures';

jest.setTimeout(30_000);

describe('legacy frontend system exports', () => {
  it('tells delivered entities by their image annotation', () => {
    expect(isKubeDeliveryAvailable(entity)).toBe(true);
    expect(
      isKubeDeliveryAvailable({
        ...entity,
        metadata: { name: 'website', annotations: {} },
      }),
    ).toBe(false);
  });

  it.each([
    [
      'Environments',
      <EntityKubeDeliveryEnvironmentsContent />,
      'No environments configured',
    ],
    [
      'Feature branches',
      <EntityKubeDeliveryFeatureBranchesContent />,
      'No environment takes feature branches',
    ],
    [
      'Release history',
      <EntityKubeDeliveryReleaseHistoryContent />,
      'No history yet',
    ],
  ])(
    'renders the %s tab as a routable extension',
    async (_title, element, emptyTitle) => {
      await renderInTestApp(
        <TestApiProvider
          apis={[
            [
              kubeDeliveryApiRef,
              mockApi({ listEnvironments: jest.fn().mockResolvedValue([]) }),
            ],
            [permissionApiRef, mockApis.permission()],
          ]}
        >
          <EntityProvider entity={entity}>
            <Routes>
              <Route path="/" element={element} />
            </Routes>
          </EntityProvider>
        </TestApiProvider>,
      );
      expect(await screen.findByText(emptyTitle)).toBeInTheDocument();
    },
  );
});
