import type {
  AuthService,
  DiscoveryService,
} from '@backstage/backend-plugin-api';
import { KubeDeliveryClient } from '../client';

const PLUGIN_ID = 'kube-delivery';

/**
 * The Kube Delivery API as the scaffolder reaches it: found through
 * discovery, called with a plugin-to-plugin token of the scaffolder's own
 * service identity (so the permission policy sees `plugin:scaffolder`).
 */
export function serviceClient(options: {
  discovery: DiscoveryService;
  auth: AuthService;
}): KubeDeliveryClient {
  const { discovery, auth } = options;
  return new KubeDeliveryClient({
    baseUrl: () => discovery.getBaseUrl(PLUGIN_ID),
    token: async () => {
      const { token } = await auth.getPluginRequestToken({
        onBehalfOf: await auth.getOwnServiceCredentials(),
        targetPluginId: PLUGIN_ID,
      });
      return token;
    },
  });
}
