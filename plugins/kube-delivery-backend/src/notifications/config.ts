import type { Config } from '@backstage/config';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';

/** `kubeDelivery.notifications`. */
export interface NotificationSettings {
  /**
   * The group told about expiring certificates and unhealthy environments,
   * as a full entity ref (`group:default/platform`); none: nobody is.
   */
  platformGroup?: string;
}

/** Reads `kubeDelivery.notifications`; an unparsable `platformGroup` refuses the start. */
export function readNotificationSettings(root: Config): NotificationSettings {
  const value = root.getOptionalString(
    'kubeDelivery.notifications.platformGroup',
  );
  if (value === undefined || value.trim() === '') return {};
  try {
    return {
      platformGroup: stringifyEntityRef(
        parseEntityRef(value.trim(), {
          defaultKind: 'group',
          defaultNamespace: 'default',
        }),
      ),
    };
  } catch (error) {
    throw new Error(
      `kubeDelivery.notifications.platformGroup must be an entity ref such as group:default/platform: ${
        (error as Error).message
      }`,
    );
  }
}
