import {
  ApiBlueprint,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import { EntityContentBlueprint } from '@backstage/plugin-catalog-react/alpha';
import { ANNOTATION_IMAGE } from '@internal/plugin-kube-delivery-common';
import { KubeDeliveryClient, kubeDeliveryApiRef } from '../api';

const kubeDeliveryApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: kubeDeliveryApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new KubeDeliveryClient({ discoveryApi, fetchApi }),
    }),
});

const environmentsContent = EntityContentBlueprint.make({
  name: 'environments',
  params: {
    path: '/kube-delivery/environments',
    title: 'Environments',
    filter: { [`metadata.annotations.${ANNOTATION_IMAGE}`]: { $exists: true } },
    loader: () =>
      import('../components/EnvironmentsContent').then(m => (
        <m.EnvironmentsContent />
      )),
  },
});

/** The Kube Delivery plugin for the new frontend system. @alpha */
export default createFrontendPlugin({
  pluginId: 'kube-delivery',
  extensions: [kubeDeliveryApi, environmentsContent],
});
