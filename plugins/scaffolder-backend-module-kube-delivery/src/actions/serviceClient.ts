import type {
  AuthService,
  BackstageCredentials,
  DiscoveryService,
} from '@backstage/backend-plugin-api';
import { NotAllowedError } from '@backstage/errors';
import type { KubeDeliveryApiClient } from '@internal/plugin-kube-delivery-common';
import { createKubeDeliveryClient } from '../client';

const PLUGIN_ID = 'kube-delivery';

/** The Kube Delivery API on behalf of whoever the credentials are. */
export type KubeDeliveryClientFor = (
  credentials: BackstageCredentials,
) => KubeDeliveryApiClient;

/**
 * The Kube Delivery API as the scaffolder reaches it: found through
 * discovery, called with a plugin-to-plugin token issued on behalf of the
 * user who runs the template (`ctx.getInitiatorCredentials()`), so Kube
 * Delivery sees that user: the permission policy decides for them and the
 * history and audit trail name them (not `plugin:scaffolder`, which the
 * permission client would let through without asking the policy).
 *
 * A task that no signed-in user started is refused: the scaffolder's own
 * identity is not lent to it.
 */
export function serviceClient(options: {
  discovery: DiscoveryService;
  auth: AuthService;
}): KubeDeliveryClientFor {
  const { discovery, auth } = options;
  return credentials =>
    createKubeDeliveryClient({
      baseUrl: () => discovery.getBaseUrl(PLUGIN_ID),
      token: async () => {
        if (!auth.isPrincipal(credentials, 'user')) {
          throw new NotAllowedError(
            `Kube Delivery actions act on behalf of the user who runs the template; this task was started by ${describe(
              credentials,
            )}. Run the template signed in, or call the Kube Delivery API with a token granted in kubeDelivery.servicePrincipals.`,
          );
        }
        const { token } = await auth.getPluginRequestToken({
          onBehalfOf: credentials,
          targetPluginId: PLUGIN_ID,
        });
        return token;
      },
    });
}

function describe(credentials: BackstageCredentials): string {
  const principal = credentials.principal as {
    type?: string;
    subject?: string;
  };
  return principal.type === 'service'
    ? `service ${principal.subject}`
    : 'nobody signed in';
}
