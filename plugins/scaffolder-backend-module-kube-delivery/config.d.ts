export interface Config {
  kubeDelivery?: {
    scaffolder?: {
      /**
       * Where `kube-delivery:publish:local` writes new services (one folder
       * each), relative to the backend's working directory. Setting it also
       * lets the catalog register `file` locations. Leave it unset where
       * templates publish to a Git host.
       */
      publishDirectory?: string;
    };
  };
}
