import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { kubeDeliveryPermissions } from '@internal/plugin-kube-delivery-common';
import { createRouter } from './router';

/**
 * The Kube Delivery backend plugin.
 *
 * @public
 */
export const kubeDeliveryPlugin = createBackendPlugin({
  pluginId: 'kube-delivery',
  register(env) {
    env.registerInit({
      deps: {
        httpRouter: coreServices.httpRouter,
        logger: coreServices.logger,
        permissionsRegistry: coreServices.permissionsRegistry,
      },
      async init({ httpRouter, logger, permissionsRegistry }) {
        permissionsRegistry.addPermissions(kubeDeliveryPermissions);
        httpRouter.use(await createRouter({ logger }));
        logger.info('Kube Delivery backend started');
      },
    });
  },
});
