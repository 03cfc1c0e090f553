export interface Config {
  kubeDelivery?: {
    scaffolder?: {
      /**
       * Where `kube-delivery:publish:local` writes new services (one folder
       * each), relative to the backend's working directory. The action
       * registers what it wrote as a `file` location, so the catalog must
       * allow those: install
       * `@internal/plugin-catalog-backend-module-kube-delivery-file-locations`
       * and set `kubeDelivery.catalog.allowFileLocations: true`. Leave it
       * unset where templates publish to a Git host.
       */
      publishDirectory?: string;
    };
  };
}
