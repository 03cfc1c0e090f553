import { screen, within } from '@testing-library/react';
import { kubeDeliveryCertificatePermission } from '@internal/plugin-kube-delivery-common';
import {
  certificate,
  certificatesApi,
  withGateway,
} from '../../__testUtils__/certificates';
import { denyOnly, mockApi, renderTab } from '../../__testUtils__/fixtures';
import { EnvironmentsContent } from './EnvironmentsContent';

/*
 * In a file of its own: the certificate permission is not per entity, and
 * usePermission's cache (shared by the tests of one file) would otherwise
 * answer with an earlier test's decision.
 */
describe('EnvironmentsContent without the certificate permission', () => {
  it('hides the upload from users the policy does not allow to change certificates', async () => {
    const api = mockApi({
      listEnvironments: jest.fn().mockResolvedValue(withGateway),
      listCertificates: certificatesApi([
        certificate({ status: 'ok', daysToExpiry: 80 }),
      ]),
    });
    await renderTab(<EnvironmentsContent />, {
      api,
      authorize: denyOnly(kubeDeliveryCertificatePermission.name),
    });
    const https = await screen.findByRole('region', {
      name: 'HTTPS of production',
    });
    expect(
      await within(https).findByText('CN=shop.example'),
    ).toBeInTheDocument();
    expect(
      within(https).queryByRole('button', { name: /Upload certificate/ }),
    ).not.toBeInTheDocument();
    expect(
      within(https).queryByRole('button', { name: /Use cert-manager/ }),
    ).not.toBeInTheDocument();
  });
});
