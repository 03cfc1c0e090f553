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

/** The tabs show only on services delivered by Kube Delivery. */
const filter = {
  [`metadata.annotations.${ANNOTATION_IMAGE}`]: { $exists: true },
};

// Each loader imports its tab on first use, so the plugin's code lands in
// chunks of its own, not in the app's entry bundle.
const environmentsContent = EntityContentBlueprint.make({
  name: 'environments',
  params: {
    path: '/kube-delivery/environments',
    title: 'Environments',
    filter,
    loader: () =>
      import('../components/EnvironmentsContent').then(m => (
        <m.EnvironmentsContent />
      )),
  },
});

const featureBranchesContent = EntityContentBlueprint.make({
  name: 'feature-branches',
  params: {
    path: '/kube-delivery/feature-branches',
    title: 'Feature branches',
    filter,
    loader: () =>
      import('../components/FeatureBranchesContent').then(m => (
        <m.FeatureBranchesContent />
      )),
  },
});

const releaseHistoryContent = EntityContentBlueprint.make({
  name: 'release-history',
  params: {
    path: '/kube-delivery/release-history',
    title: 'Release history',
    filter,
    loader: () =>
      import('../components/ReleaseHistoryContent').then(m => (
        <m.ReleaseHistoryContent />
      )),
  },
});

/** The Kube Delivery plugin for the new frontend system. @alpha */
export default createFrontendPlugin({
  pluginId: 'kube-delivery',
  extensions: [
    kubeDeliveryApi,
    environmentsContent,
    featureBranchesContent,
    releaseHistoryContent,
  ],
});
