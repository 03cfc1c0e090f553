import type {
  GatewayCertificateList,
  GatewayCertificate,
} from '@internal/plugin-kube-delivery-common';
import { environments, minutesAgo } from './fixtures';

/** The fixture environments, production with an HTTPS gateway. */
export const withGateway = environments.map(e =>
  e.name === 'production'
    ? {
        ...e,
        gateway: {
          namespace: 'istio-system',
          name: 'ingressgateway',
          hosts: ['shop.example'],
        },
      }
    : e,
);

/** A certificate of production's gateway, 12 days from expiry unless overridden. */
export function certificate(
  overrides: Partial<GatewayCertificate> = {},
): GatewayCertificate {
  return {
    id: 'cert-1',
    environment: 'production',
    gateway: 'istio-system/ingressgateway',
    hosts: ['shop.example'],
    source: 'upload',
    active: true,
    secretName: 'shop-tls',
    subject: 'CN=shop.example',
    sans: ['shop.example', 'www.shop.example'],
    issuer: 'CN=Boutique Test CA',
    notAfter: new Date(Date.now() + 12 * 86_400_000).toISOString(),
    daysToExpiry: 12,
    uploadedBy: 'user:default/jane',
    uploadedAt: minutesAgo(60),
    status: 'expiring',
    warnings: [],
    ...overrides,
  };
}

/** `listCertificates` answering with these certificates and gateway fields. */
export function certificatesApi(
  items: GatewayCertificate[],
  gateway: Partial<GatewayCertificateList['gateway']> = {},
) {
  return jest.fn().mockResolvedValue({
    environment: 'production',
    gateway: {
      api: 'istio',
      namespace: 'istio-system',
      name: 'ingressgateway',
      hosts: ['shop.example'],
      secretName: 'shop-tls',
      httpsRedirect: true,
      ...gateway,
    },
    items,
  });
}
