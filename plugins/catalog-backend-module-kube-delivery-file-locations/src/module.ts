import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { catalogLocationsExtensionPoint } from '@backstage/plugin-catalog-node';

/** The config switch; see config.d.ts. */
export const ALLOW_FILE_LOCATIONS_KEY =
  'kubeDelivery.catalog.allowFileLocations';

/**
 * Lets the catalog register `file` locations (besides `url`) when
 * `kubeDelivery.catalog.allowFileLocations` is true, so
 * `kube-delivery:publish:local` can register what it wrote. Without that
 * setting it changes nothing.
 *
 * @public
 */
export const catalogModuleKubeDeliveryFileLocations = createBackendModule({
  pluginId: 'catalog',
  moduleId: 'kube-delivery-file-locations',
  register(reg) {
    reg.registerInit({
      deps: {
        locations: catalogLocationsExtensionPoint,
        config: coreServices.rootConfig,
        logger: coreServices.logger,
      },
      async init({ locations, config, logger }) {
        if (config.getOptionalBoolean(ALLOW_FILE_LOCATIONS_KEY)) {
          locations.setAllowedLocationTypes(['url', 'file']);
          logger.info(
            `The catalog registers file locations (${ALLOW_FILE_LOCATIONS_KEY})`,
          );
        }
      },
    });
  },
});
