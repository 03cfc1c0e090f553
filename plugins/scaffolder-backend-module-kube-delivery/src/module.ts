import path from 'node:path';
import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import {
  catalogLocationsExtensionPoint,
  catalogServiceRef,
} from '@backstage/plugin-catalog-node';
import { scaffolderActionsExtensionPoint } from '@backstage/plugin-scaffolder-node';
import { createDeployAction } from './actions/deploy';
import { createPublishLocalAction } from './actions/publishLocal';
import { createReleaseAction } from './actions/createRelease';
import { serviceClient } from './actions/serviceClient';

const PUBLISH_DIRECTORY_KEY = 'kubeDelivery.scaffolder.publishDirectory';

/**
 * Scaffolder actions of Kube Delivery: `kube-delivery:release:create`,
 * `kube-delivery:deploy`, and, when `kubeDelivery.scaffolder.publishDirectory`
 * is configured, `kube-delivery:publish:local`.
 *
 * @public
 */
export const scaffolderModuleKubeDelivery = createBackendModule({
  pluginId: 'scaffolder',
  moduleId: 'kube-delivery',
  register(reg) {
    reg.registerInit({
      deps: {
        scaffolder: scaffolderActionsExtensionPoint,
        discovery: coreServices.discovery,
        auth: coreServices.auth,
        config: coreServices.rootConfig,
        catalog: catalogServiceRef,
      },
      async init({ scaffolder, discovery, auth, config, catalog }) {
        const client = serviceClient({ discovery, auth });
        scaffolder.addActions(
          createReleaseAction({ client }),
          createDeployAction({ client }),
        );
        const publishDirectory = config.getOptionalString(
          PUBLISH_DIRECTORY_KEY,
        );
        if (publishDirectory) {
          scaffolder.addActions(
            createPublishLocalAction({
              publishDirectory: path.resolve(publishDirectory),
              catalog,
            }),
          );
        }
      },
    });
  },
});

/**
 * Lets the catalog register `file` locations (besides `url`) when
 * `kubeDelivery.scaffolder.publishDirectory` is configured, so
 * `kube-delivery:publish:local` can register what it wrote. Without that
 * setting it changes nothing.
 *
 * @public
 */
export const catalogModuleKubeDeliveryLocalPublish = createBackendModule({
  pluginId: 'catalog',
  moduleId: 'kube-delivery-local-publish',
  register(reg) {
    reg.registerInit({
      deps: {
        locations: catalogLocationsExtensionPoint,
        config: coreServices.rootConfig,
      },
      async init({ locations, config }) {
        if (config.getOptionalString(PUBLISH_DIRECTORY_KEY)) {
          locations.setAllowedLocationTypes(['url', 'file']);
        }
      },
    });
  },
});
